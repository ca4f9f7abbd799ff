"""Post-synaptic partition of the hidden layer over K cores, per-core memory, routing table and PRNG jump-ahead.

Each hidden core owns a contiguous block of neurons: their weight rows [W_in | b | W_rec], eligibilities, states
and chunk buffers, so no partial sum of a hidden current crosses cores. One more core runs the readout."""
from __future__ import annotations

from dataclasses import dataclass

from ..fixed.quantize import NEURON_CONSTS, QuantizedModel
from ..fixed.spec import LUT_SIZE

DEFAULT_BUDGET = 128 * 1024      # SpiNNaker 2 processing element: 128 KB SRAM for code and data
CODE_RESERVE = 8 * 1024          # room left for code when the partitioner sizes data (measured code: report.py)
ROUTE_BYTES = 12                 # key, mask, destination bitmap
SPIN_IN, SPIN_SPIKE, SPIN_SYNC, SPIN_L, SPIN_LABEL, SPIN_CMD = 1, 2, 3, 4, 5, 6   # firmware/spinnaker/spin_core.h
MAX_HIDDEN_CORES = 31             # + the readout: a 32-bit destination bitmap per route


class PartitionError(ValueError):
    pass


def key(kind: int, core: int = 0, idx: int = 0) -> int:
    return (kind << 24) | (core << 16) | idx


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

    @property
    def k(self) -> int:
        return len(self.n0) - 1

    @property
    def n_cores(self) -> int:
        return self.k + 1

    def sizes(self, core: int) -> int:
        return self.n0[core + 1] - self.n0[core]

    def data_bytes(self, core: int) -> dict[str, int]:
        """Static data of one core image, by part (the arrays of templates/spinnaker/*.c.j2)."""
        return hidden_bytes(self.qm, self.sizes(core), self.k) if core < self.k else readout_bytes(self.qm, self.k)

    def routes(self) -> list[Route]:
        return routes(self.qm, self.n0)


def hidden_bytes(qm: QuantizedModel, nl: int, k: int) -> dict[str, int]:
    m, d, lam, n_in, zb = qm.m, qm.d, qm.chunk, qm.n_in, (qm.n_hidden + 7) // 8
    learn = qm.learn == "all"
    return {
        "weights": 2 * nl * m,
        "eligibilities": 2 * nl * m * d if learn else 0,
        "state": 4 * nl * d + nl + 2 * zb + 2 * n_in + 16,
        "chunk buffers": (4 * nl * d + 2 * lam * n_in + lam * zb + 4 * lam * nl + 4 * (lam + 1) * d
                          + 4 * lam * (2 + d)) if learn else 0,
        "constants + tables": 4 * nl * len(NEURON_CONSTS[qm.neuron]) + 4 * LUT_SIZE + 4 * 32 * (2 if learn else 1)
                              + 2 * k,
    }


def readout_bytes(qm: QuantizedModel, k: int) -> dict[str, int]:
    n, c, lam, zb = qm.n_hidden, qm.n_out, qm.chunk, (qm.n_hidden + 7) // 8
    return {
        "weights": 2 * c * (n + 1),
        "eligibilities": 2 * c * (n + 1),
        "state": 4 * c + zb + 24,
        "chunk buffers": lam * zb + 4 * lam * c + 12 * lam,
        "constants + tables": 8 * c + 4 * LUT_SIZE + 4 * 64 + 2 * (k + 1),
    }


def _split(n: int, k: int) -> list[int]:
    """Balanced contiguous blocks: the first n % k cores get one neuron more."""
    base, extra = divmod(n, k)
    n0 = [0]
    for i in range(k):
        n0.append(n0[-1] + base + (1 if i < extra else 0))
    return n0


def _fits(qm: QuantizedModel, k: int, budget: int) -> bool:
    nl = -(-qm.n_hidden // k)
    return sum(hidden_bytes(qm, nl, k).values()) + CODE_RESERVE <= budget


def plan(qm: QuantizedModel, cores: int | None = None, budget: int = DEFAULT_BUDGET) -> Plan:
    """Split the hidden neurons over `cores` hidden cores (None: the fewest that fit `budget` bytes per core)."""
    qm.check()
    n = qm.n_hidden
    k_max = min(n, MAX_HIDDEN_CORES)
    ro = sum(readout_bytes(qm, 1).values()) + CODE_RESERVE
    if ro > budget:
        raise PartitionError(f"the readout core needs {ro} B (with {CODE_RESERVE} B for code), over the "
                             f"{budget} B per-core budget")
    smallest = next((k for k in range(1, k_max + 1) if _fits(qm, k, budget)), None)
    if cores is None:
        if smallest is None:
            raise PartitionError(f"the model does not fit in {budget} B per core even with one neuron per core")
        cores = smallest
    if not 1 <= cores <= k_max:
        raise PartitionError(f"--cores must be 1..{k_max} (hidden neurons: {n})")
    if not _fits(qm, cores, budget):
        need = f"at least {smallest} hidden cores" if smallest else "more memory per core than any split gives"
        nl = -(-n // cores)
        used = sum(hidden_bytes(qm, nl, cores).values()) + CODE_RESERVE
        raise PartitionError(f"{cores} hidden cores need {used} B per core (with {CODE_RESERVE} B for code), over "
                             f"the {budget} B budget: the model needs {need}")
    n0 = _split(n, cores)
    if qm.learn == "all" and qm.chunk * (n0[1] - n0[0]) > 0x10000:
        raise PartitionError(f"chunk {qm.chunk} x {n0[1] - n0[0]} neurons per core exceeds the 16-bit key index of "
                             f"learning-signal packets; use more cores or a shorter chunk")
    return Plan(qm, n0, budget)


def routes(qm: QuantizedModel, n0: list[int]) -> list[Route]:
    k = len(n0) - 1
    hidden, readout = (1 << k) - 1, 1 << k
    r = [Route(key(SPIN_IN), 0xFF000000, hidden, "inputs -> hidden cores")]
    if qm.recurrent:
        r.append(Route(key(SPIN_SPIKE), 0xFF000000, hidden | readout, "spikes -> all cores"))
    else:   # a core needs its own z_{t-1} (reset, refractory) and the readout all spikes
        r += [Route(key(SPIN_SPIKE, c), 0xFFFF0000, (1 << c) | readout, f"spikes of core {c} -> itself, readout")
              for c in range(k)]
    r.append(Route(key(SPIN_SYNC), 0xFF000000, readout, "step done -> readout"))
    if qm.learn == "all":
        r += [Route(key(SPIN_L, c), 0xFFFF0000, 1 << c, f"learning signals -> core {c}") for c in range(k)]
    r += [Route(key(SPIN_LABEL), 0xFF000000, readout, "labels -> readout"),
          Route(key(SPIN_CMD), 0xFF000000, readout, "commands -> readout")]
    return r


# -- PRNG jump-ahead: xorshift32 is linear over GF(2); a jump of J draws is a 32x32 bit matrix, kept as columns

def _xorshift(x: int) -> int:
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def _apply(cols: list[int], x: int) -> int:
    r = 0
    for j in range(32):
        if (x >> j) & 1:
            r ^= cols[j]
    return r


def jump_columns(steps: int) -> list[int]:
    """cols[j] = the state `steps` draws after the state 1 << j (square-and-multiply over GF(2))."""
    result = [1 << j for j in range(32)]
    power = [_xorshift(1 << j) for j in range(32)]        # one draw
    while steps:
        if steps & 1:
            result = [_apply(power, c) for c in result]
        power = [_apply(power, c) for c in power]
        steps >>= 1
    return result


def draw_offsets(p: Plan) -> list[tuple[int, int]]:
    """(start, next) jumps of every core: draws before its first one, and from its last to its next update's."""
    qm = p.qm
    per_row = qm.m if qm.learn == "all" else 0
    total = qm.n_hidden * per_row + qm.n_out * (qm.n_hidden + 1)
    out = []
    for c in range(p.k):
        own = p.sizes(c) * per_row
        out.append((p.n0[c] * per_row, total - own))
    own = qm.n_out * (qm.n_hidden + 1)
    out.append((qm.n_hidden * per_row, total - own))
    return out
