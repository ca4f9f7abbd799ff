"""Post-synaptic partition of the hidden layer over K cores, the readout's placement, per-core memory, routing
table and PRNG jump-ahead.

Each hidden core owns a contiguous block of neurons: their weight rows [W_in | b | W_rec], eligibilities, states
and chunk buffers, so no partial sum of a hidden current crosses cores. The readout runs on the last hidden core
when that fits (that core then takes fewer neurons), else on a core of its own."""
from __future__ import annotations

from dataclasses import dataclass

from ..fixed.quantize import QuantizedModel
from ..fixed.spec import LUT_SIZE
from .packets import MATCH_KIND, MATCH_KIND_CORE, SPIN_CMD, SPIN_IN, SPIN_L, SPIN_LABEL, SPIN_SPIKE, SPIN_SYNC, key

DEFAULT_BUDGET = 128 * 1024      # SpiNNaker 2 processing element: 128 KB SRAM for code and data
CODE_RESERVE = 8 * 1024          # room left for one role's code when the partitioner sizes data (measured: report)
SHARED_CODE_RESERVE = 12 * 1024  # the same for a core that runs hidden neurons and the readout
ROUTE_BYTES = 12                 # key, mask, destination bitmap
MAX_HIDDEN_CORES = 31             # + the readout: a 32-bit destination bitmap per route
READOUT_PLACEMENTS = ("auto", "separate")


class PartitionError(ValueError):
    pass


@dataclass
class Route:
    key: int
    mask: int
    dest: int          # bitmap of cores
    what: str


@dataclass
class Plan:
    qm: QuantizedModel
    n0: list[int]      # first neuron of each hidden core, plus N at the end
    budget: int
    shared: bool = False   # the readout runs on the last hidden core (else on core k, a core of its own)

    @property
    def k(self) -> int:
        """hidden cores"""
        return len(self.n0) - 1

    @property
    def n_cores(self) -> int:
        return self.k if self.shared else self.k + 1

    @property
    def readout_core(self) -> int:
        return self.k - 1 if self.shared else self.k

    def sizes(self, core: int) -> int:
        return self.n0[core + 1] - self.n0[core] if core < self.k else 0

    def name(self, core: int) -> str:
        hidden = f"hidden{core}" if core < self.k else ""
        return "+".join(r for r in (hidden, "readout" if core == self.readout_core else "") if r)

    def data_bytes(self, core: int) -> dict[str, int]:
        """Static data of one core image, by part (the arrays of templates/spinnaker/*.c.j2)."""
        return core_bytes(self.qm, self.sizes(core), self.k, core == self.readout_core)

    def need(self, core: int) -> int:
        """data + the code reserve: what the partitioner checks against the budget"""
        return sum(self.data_bytes(core).values()) + code_reserve(self.sizes(core), core == self.readout_core)

    def spike_dest(self, core: int) -> int:
        """bitmap of the other cores that need this hidden core's spikes (its own are delivered locally)"""
        hidden = (1 << self.k) - 1 if self.qm.recurrent else 0
        return (hidden | 1 << self.readout_core) & ~(1 << core)

    def routes(self) -> list[Route]:
        return routes(self)


def code_reserve(nl: int, readout: bool) -> int:
    return SHARED_CODE_RESERVE if nl and readout else CODE_RESERVE


def core_bytes(qm: QuantizedModel, nl: int, k: int, readout: bool) -> dict[str, int]:
    """Static data of a core with nl hidden neurons (0: none) and, if `readout`, the readout; k hidden cores."""
    n, c, m, d, lam, n_in, zb = qm.n_hidden, qm.n_out, qm.m, qm.d, qm.chunk, qm.n_in, (qm.n_hidden + 7) // 8
    learn = qm.learn == "all"
    rows = learn and nl > 0                        # this core updates hidden rows
    updates = rows or readout
    b = {"weights": 0, "eligibilities": 0, "state": 8,
         "chunk buffers": 4 * lam * (2 + (d if rows else 1)) if updates else 0,   # per-row scratch qs, ws, col
         "constants + tables": 4 * 32 * (2 if updates else 1) + 2 * (k + 1)}      # PRNG jumps, first neurons
    if nl:
        b["weights"] += 2 * nl * m
        b["eligibilities"] += 2 * nl * m * d if learn else 0
        b["state"] += 4 * nl * d + nl + 2 * zb + 2 * n_in + 8
        b["chunk buffers"] += 4 * nl * d + 2 * lam * n_in + lam * zb + 4 * lam * nl + 4 * (lam + 1) * d if learn else 0
        b["constants + tables"] += 4 * nl * len(qm.const_names) + 4 * LUT_SIZE
    if readout:
        b["weights"] += 2 * c * (n + 1)
        b["eligibilities"] += 2 * c * (n + 1)
        b["state"] += 4 * c + zb + 12
        b["chunk buffers"] += lam * zb + 4 * lam * c
        b["constants + tables"] += 8 * c + 4 * LUT_SIZE
    return b


def _split(n: int, k: int) -> list[int]:
    """Balanced contiguous blocks: the first n % k cores get one neuron more."""
    base, extra = divmod(n, k)
    n0 = [0]
    for i in range(k):
        n0.append(n0[-1] + base + (1 if i < extra else 0))
    return n0


def _need(qm: QuantizedModel, nl: int, k: int, readout: bool) -> int:
    return sum(core_bytes(qm, nl, k, readout).values()) + code_reserve(nl, readout)


def _layout(qm: QuantizedModel, k: int, shared: bool) -> tuple[list[int], int]:
    """The split over k hidden cores and the bytes its largest core needs. Shared: the last core also runs the
    readout and takes the ns neurons that make the largest core smallest (memory tracks work: both grow with
    synapses), the others split the rest evenly."""
    n = qm.n_hidden
    if not shared:
        n0 = _split(n, k)
        return n0, max(_need(qm, n0[1], k, False), _need(qm, 0, k, True))
    best = None
    for ns in range(1 if k > 1 else n, n - k + 2):
        big = _need(qm, ns, k, True)
        if k > 1:
            big = max(big, _need(qm, -(-(n - ns) // (k - 1)), k, False))
        if best is None or big <= best[1]:      # ties: the more even split
            best = (ns, big)
    ns, big = best
    return _split(n - ns, k - 1)[:-1] + [n - ns, n] if k > 1 else [0, n], big


def plan(qm: QuantizedModel, cores: int | None = None, budget: int = DEFAULT_BUDGET,
         readout: str = "auto") -> Plan:
    """Split the hidden neurons over `cores` hidden cores (None: the fewest that fit `budget` bytes per core). The
    readout shares the last hidden core when that fits (`readout="auto"`), else it, or always with
    `readout="separate"`, gets a core of its own."""
    qm.check()
    if readout not in READOUT_PLACEMENTS:
        raise PartitionError(f"readout placement {readout!r}; expected one of {', '.join(READOUT_PLACEMENTS)}")
    n = qm.n_hidden
    k_max = min(n, MAX_HIDDEN_CORES)
    ro = _need(qm, 0, 1, True)
    if ro > budget:
        raise PartitionError(f"the readout alone needs {ro} B (with {CODE_RESERVE} B for code), over the "
                             f"{budget} B per-core budget")
    placements = (True, False) if readout == "auto" else (False,)

    def layouts(k: int) -> list[tuple[list[int], int, bool]]:
        return [(*_layout(qm, k, shared), shared) for shared in placements]

    def fit(k: int) -> tuple[list[int], int, bool] | None:
        return next((lay for lay in layouts(k) if lay[1] <= budget), None)

    smallest = next((k for k in range(1, k_max + 1) if fit(k)), None)
    if cores is None:
        if smallest is None:
            raise PartitionError(f"the model does not fit in {budget} B per core even with one neuron per core")
        cores = smallest
    if not 1 <= cores <= k_max:
        raise PartitionError(f"--cores must be 1..{k_max} (hidden neurons: {n})")
    got = fit(cores)
    if got is None:
        need = f"at least {smallest} hidden cores" if smallest else "more memory per core than any split gives"
        used = min(lay[1] for lay in layouts(cores))
        raise PartitionError(f"{cores} hidden cores need {used} B on the largest core (with code), over the "
                             f"{budget} B budget: the model needs {need}")
    n0, _, shared = got
    widest = max(b - a for a, b in zip(n0, n0[1:]))
    if qm.learn == "all" and qm.chunk * widest > 0x10000:
        raise PartitionError(f"chunk {qm.chunk} x {widest} neurons per core exceeds the 16-bit key index of "
                             "learning-signal packets; use more cores or a shorter chunk")
    return Plan(qm, n0, budget, shared)


def routes(p: Plan) -> list[Route]:
    """First match wins. A core never routes a packet to itself: what it would send itself it delivers locally."""
    k, ro = p.k, p.readout_core
    r = [Route(key(SPIN_IN), MATCH_KIND, (1 << k) - 1, "inputs -> hidden cores")]
    for c in range(k):
        dest = p.spike_dest(c)
        if dest:
            to = ", ".join(str(j) for j in range(p.n_cores) if dest >> j & 1)
            r.append(Route(key(SPIN_SPIKE, c), MATCH_KIND_CORE, dest, f"spikes of core {c} -> cores {to}"))
    if k > 1 or not p.shared:   # a hidden core other than the readout's reports "step done"
        r.append(Route(key(SPIN_SYNC), MATCH_KIND, 1 << ro, "step done -> readout"))
    if p.qm.learn == "all":
        r += [Route(key(SPIN_L, c), MATCH_KIND_CORE, 1 << c, f"learning signals -> core {c}")
              for c in range(k) if c != ro]
    r += [Route(key(SPIN_LABEL), MATCH_KIND, 1 << ro, "labels -> readout"),
          Route(key(SPIN_CMD), MATCH_KIND, 1 << ro, "commands -> readout")]
    return r


# -- PRNG: each core jumps its generator past the draws of the others (hypr_edge.fixed.spec.xorshift32_jump)

def draw_offsets(p: Plan) -> list[tuple[int, int]]:
    """(start, next) jumps of every core: draws before its first one, and from its last to its next update's. A
    shared core draws its rows' stretch, then the readout's, which follows directly (it is the last hidden core)."""
    qm = p.qm
    per_row = qm.m if qm.learn == "all" else 0
    ro = qm.n_out * (qm.n_hidden + 1)
    total = qm.n_hidden * per_row + ro
    out = []
    for c in range(p.n_cores):
        own = p.sizes(c) * per_row + (ro if c == p.readout_core else 0)
        start = p.n0[c] * per_row if c < p.k else qm.n_hidden * per_row
        out.append((start, total - own))
    return out
