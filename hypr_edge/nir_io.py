"""NIR (the Neuromorphic Intermediate Representation) in and out: `import_nir(graph) -> NetworkSpec`,
`export_nir(spec) -> nir.NIRGraph` (docs/interop.md has the mapping table).

A NIR graph is a continuous-time description; hypr-edge runs a discrete step. The two meet through NIR's
forward-Euler reading with step dt, the one snnTorch and Norse use:
    LIF  τ dv/dt = (v_leak − v) + R I   ->   v_t = α v_{t−1} + (1 − α)(v_leak + R I_t),  α = 1 − dt/τ
so hypr-edge's α is 1 − dt/τ (τ = dt/(1 − α) on export, with R = 1), R folds into the weights and v_leak into the
bias. NIR's LIF resets the membrane to v_reset (0) when it spikes: hypr-edge's `lif_zero` neuron. snnTorch writes
the same v_reset = 0 for its default subtract-reset neurons, whose step is exactly hypr-edge's `lif`: reading a
graph with `lif_reset="subtract"` maps its LIF nodes there (the graph itself cannot say which one it means).

Only what maps exactly is accepted: any other node, shape or parameter is refused with an error naming the node.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .network_spec import LayerSpec, NetworkSpec, SpecError

__all__ = ["DEFAULT_DT", "LIF_RESETS", "NirError", "export_nir", "import_nir", "read_nir", "write_nir"]

#: dt when neither the caller nor the graph says: snnTorch's fixed step (its export and import use 1e-4 s).
DEFAULT_DT = 1e-4
#: How a NIR LIF node's reset is read: "zero" (NIR's meaning, v <- v_reset = 0) or "subtract" (snnTorch's default).
LIF_RESETS = {"zero": "lif_zero", "subtract": "lif"}
DT_KEY = "hypr_edge.dt"            # graph metadata: the dt the file was written with
RESET_KEY = "hypr_edge.lif_reset"  # graph metadata: how its LIF nodes reset, when hypr-edge wrote it
INSTALL_HINT = "NIR support needs the 'interop' extra: pip install 'hypr-edge[interop]' (nir, nirtorch)"
#: What NIR lacks for each hypr-edge neuron it cannot express.
NOT_IN_NIR = {
    "alif": "an adaptive threshold (a second state a_t that raises the threshold after each spike)",
    "brf": "a resonate-and-fire oscillator (states u, v with frequency ω and a refractory threshold r)",
    "adlif": "an adaptation current w_t coupled to the membrane (and a reset that scales u by 1 − z)",
}


class NirError(ValueError):
    """A NIR file or graph that hypr-edge cannot represent exactly (the message names the node), or a spec
    that NIR cannot express."""


def _nir():
    try:
        import nir
    except ImportError:
        raise NirError(INSTALL_HINT) from None
    return nir


# ---------------------------------------------------------------- files


def read_nir(path: str | os.PathLike):
    """The NIRGraph stored in `path`; NirError with one line for a missing or unreadable file."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise NirError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except Exception as err:  # h5py, nir and numpy raise many kinds; the user needs the verdict
        raise NirError(f"{path}: not a readable NIR file ({type(err).__name__}: {str(err).splitlines()[0][:200]})") \
            from None


def write_nir(graph, path: str | os.PathLike) -> None:
    """Write a NIR graph (under a temporary name, moved into place when whole: hypr_edge.outputs)."""
    from .outputs import atomic_path
    with atomic_path(path) as tmp:
        _nir().write(os.fspath(tmp), graph)


# ---------------------------------------------------------------- import


def _describe(name: str, node) -> str:
    return f"node {name!r} ({type(node).__name__})"


def _flatten(graph, prefix: str = "") -> tuple[dict, list[tuple[str, str]]]:
    """Nodes and edges with nested NIRGraphs (older snnTorch exports wrap RLeaky so) spliced into their parent;
    inner names become 'outer.inner'."""
    nir = _nir()
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = _flatten(node, full + ".")
            ins = [k for k, n in inner_nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in inner_nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NirError(f"{_describe(full, node)}: a subgraph needs one Input and one Output, "
                               f"has {len(ins)} and {len(outs)}")
            entry[full] = [b for a, b in inner_edges if a == ins[0]]
            exit_[full] = [a for a, b in inner_edges if b == outs[0]]
            nodes.update({k: n for k, n in inner_nodes.items() if k not in (ins[0], outs[0])})
            edges += [(a, b) for a, b in inner_edges if a != ins[0] and b != outs[0]]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        for src in exit_.get(a, [a]):
            for dst in entry.get(b, [b]):
                edges.append((src, dst))
    return nodes, list(dict.fromkeys(edges))  # keep order, drop duplicates


def _vector(name, node, field: str, n: int) -> np.ndarray:
    """Parameter `field` of a node as float64 (n,): scalars and size-1 arrays broadcast (snnTorch writes
    shape () for a layer-wide beta)."""
    value = np.asarray(getattr(node, field), dtype=np.float64)
    if value.size == 1:
        value = np.full(n, float(value.reshape(-1)[0]))
    if value.shape != (n,):
        raise NirError(f"{_describe(name, node)}: {field} has shape {value.shape}, expected ({n},)")
    if not np.all(np.isfinite(value)):
        raise NirError(f"{_describe(name, node)}: {field} holds NaN or infinite values")
    return value


def _alpha(name, node, tau: np.ndarray, dt: float) -> np.ndarray:
    """α = 1 − dt/τ, which must lie in (0, 1): τ > dt."""
    alpha = 1.0 - dt / tau
    if np.any(tau <= 0) or np.any(alpha <= 0) or np.any(alpha >= 1):
        raise NirError(f"{_describe(name, node)}: τ from {tau.min():.4g} to {tau.max():.4g} gives α = 1 − dt/τ outside "
                       f"(0, 1) with dt = {dt:g}; pass the dt the graph was made with (--dt)")
    return alpha


class _Importer:
    """Walks a flattened graph along its one chain Input -> (weights -> neurons [⇄ recurrent weights])* ->
    weights [-> LI] -> Output, and gathers the layers."""

    def __init__(self, graph, dt: float, lif_reset: str):
        self.nir = _nir()
        self.dt, self.lif_reset = dt, lif_reset
        self.nodes, edges = _flatten(graph)
        self.succ = {k: [] for k in self.nodes}
        self.pred = {k: [] for k in self.nodes}
        for a, b in edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise NirError(f"edge ({a!r}, {b!r}) names a node {end!r} that the graph does not have")
            self.succ[a].append(b)
            self.pred[b].append(a)
        self.visited: set[str] = set()

    def describe(self, name: str) -> str:
        return _describe(name, self.nodes[name])

    def is_weight(self, name: str) -> bool:
        return isinstance(self.nodes[name], (self.nir.Affine, self.nir.Linear))

    def only_successor(self, name: str) -> str:
        nxt = self.succ[name]
        if len(nxt) != 1:
            raise NirError(f"{self.describe(name)} feeds {len(nxt)} nodes {nxt}; hypr-edge reads a chain of layers")
        return nxt[0]

    def weights(self, name: str, fan_in: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(W, b) of an Affine or Linear node, float64; b = 0 for Linear."""
        node = self.nodes[name]
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2 or (fan_in is not None and w.shape[1] != fan_in):
            raise NirError(f"{self.describe(name)}: weight has shape {w.shape}, expected (N, {fan_in})")
        b = np.zeros(w.shape[0]) if isinstance(node, self.nir.Linear) else _vector(name, node, "bias", w.shape[0])
        if not np.all(np.isfinite(w)):
            raise NirError(f"{self.describe(name)}: weight holds NaN or infinite values")
        self.visited.add(name)
        return w, b

    def run(self) -> NetworkSpec:
        nir = self.nir
        inputs = [k for k, n in self.nodes.items() if isinstance(n, nir.Input)]
        outputs = [k for k, n in self.nodes.items() if isinstance(n, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise NirError(f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; hypr-edge needs one "
                           "each")
        self.visited.update(inputs)
        name = self.only_successor(inputs[0])
        layers, thresholds, fan_in = [], [], None
        while True:
            if name in self.visited:
                raise NirError(f"{self.describe(name)} is reached twice: a loop through more than one node")
            if not self.is_weight(name):
                raise NirError(f"{self.describe(name)} where hypr-edge needs an Affine or Linear node (the weights "
                               "into a layer or the readout)")
            w, b = self.weights(name, fan_in)
            if fan_in is None:
                shape = np.asarray(self.nodes[inputs[0]].input_type.get("input", [w.shape[1]])).reshape(-1)
                if int(np.prod(shape)) != w.shape[1]:
                    raise NirError(f"{self.describe(inputs[0])}: shape {shape.tolist()} does not match the "
                                   f"{w.shape[1]} inputs of {self.describe(name)}")
            weight_node, name = name, self.only_successor(name)
            node = self.nodes[name]
            if isinstance(node, nir.Output):
                readout = (w, b, np.zeros(w.shape[0]))  # a plain Affine output: memoryless, α_out = 0
                break
            if isinstance(node, nir.LI):
                readout = self.leaky_readout(name, w, b)
                name = self.only_successor(name)
                if not isinstance(self.nodes[name], nir.Output):
                    raise NirError(f"{self.describe(name)} after the LI readout; the LI must feed the Output")
                break
            if isinstance(node, (nir.LIF, nir.CubaLIF)):
                layer, threshold, name = self.hidden_layer(name, weight_node, w, b)
                layers.append(layer)
                thresholds.append(threshold)
                fan_in = layer.size
                continue
            raise NirError(self.refusal(name, after=weight_node))
        if not layers:
            raise NirError("the graph has no spiking layer (LIF or CubaLIF) between its Input and its Output")
        left = [k for k in self.nodes if k not in self.visited and not isinstance(self.nodes[k], nir.Output)]
        if left:
            raise NirError(f"{self.describe(left[0])} is not on the chain Input -> layers -> readout -> Output")
        recurrent = [layer.w_rec is not None for layer in layers]
        if len(set(recurrent)) > 1:
            raise NirError("some layers are recurrent and some are not; hypr-edge's layers are all recurrent or all "
                           "feed-forward")
        return self.spec(layers, thresholds, readout)

    def refusal(self, name: str, after: str) -> str:
        node, nir = self.nodes[name], self.nir
        if self.is_weight(name):
            why = "two weight nodes in a row; hypr-edge has spiking neurons between weights (multiply them into one)"
        elif isinstance(node, nir.I):
            why = ("a pure integrator (no leak): hypr-edge's readout is o_t = α o_{t−1} + (1 − α)(W z_t + b), which "
                   "has no α = 1 form with a non-zero gain; use LI or a plain Affine output")
        elif isinstance(node, nir.IF):
            why = "integrate-and-fire without leak (α = 1): hypr-edge's LIF needs α = 1 − dt/τ < 1"
        elif isinstance(node, nir.NIRGraph):
            why = "a nested graph hypr-edge could not splice"
        else:
            why = ("not a node hypr-edge maps (it reads Input, Affine, Linear, LIF, CubaLIF with τ_syn = dt, "
                   "LI and Output)")
        return f"{self.describe(name)} after {self.describe(after)}: {why}"

    def hidden_layer(self, name: str, weight_node: str, w: np.ndarray, b: np.ndarray):
        """One spiking layer at `name`; returns (LayerSpec, per-neuron threshold, the next node's name)."""
        nir, node, n = self.nir, self.nodes[name], w.shape[0]
        self.visited.add(name)
        if isinstance(node, nir.CubaLIF):
            tau_syn = _vector(name, node, "tau_syn", n)
            # τ_syn = dt gives a synaptic current equal to this step's input (α_syn = 0): a plain LIF.
            if not np.allclose(tau_syn, self.dt, rtol=1e-6, atol=0):
                raise NirError(f"{self.describe(name)}: synaptic τ_syn from {tau_syn.min():.4g} to {tau_syn.max():.4g} "
                               f"≠ dt = {self.dt:g}; hypr-edge's LIF has no synaptic-current state (only τ_syn = dt, "
                               "a current that follows the input at once, maps)")
            tau, gain = _vector(name, node, "tau_mem", n), _vector(name, node, "w_in", n)
        else:
            tau, gain = _vector(name, node, "tau", n), np.ones(n)
        r, v_leak = _vector(name, node, "r", n), _vector(name, node, "v_leak", n)
        threshold = _vector(name, node, "v_threshold", n)
        v_reset = _vector(name, node, "v_reset", n) if getattr(node, "v_reset", None) is not None else np.zeros(n)
        if np.any(v_reset != 0):
            raise NirError(f"{self.describe(name)}: v_reset ≠ 0; hypr-edge's LIF neurons reset to 0 (lif_zero) or "
                           "subtract the threshold (lif)")
        if np.any(threshold <= 0):
            raise NirError(f"{self.describe(name)}: v_threshold must be > 0")
        alpha = _alpha(name, node, tau, self.dt)
        # (1 − α)(v_leak + R w_in (W x + b)): R w_in goes into the weight rows, v_leak into the bias.
        scale = r * gain
        nxt = list(self.succ[name])
        rec = [k for k in nxt if k in self.pred[name]]
        w_rec = None
        if rec:
            loop = rec[0]
            if len(rec) != 1 or not self.is_weight(loop) or self.pred[loop] != [name] or self.succ[loop] != [name]:
                raise NirError(f"{self.describe(name)}: its loop must be one Affine or Linear node from it back to it "
                               f"(found {rec})")
            w_rec, b_rec = self.weights(loop, n)
            if w_rec.shape != (n, n):
                raise NirError(f"{self.describe(loop)}: recurrent weight has shape {w_rec.shape}, "
                               f"expected ({n}, {n})")
            b = b + b_rec  # the loop's bias enters I_t every step, as the input's does
            w_rec = w_rec * scale[:, None]
            nxt.remove(loop)
        others = [k for k in self.pred[name] if k != weight_node and k not in rec]
        if others:
            raise NirError(f"{self.describe(name)} has inputs {[weight_node, *others]}; a layer takes one weight node "
                           "(and its own loop)")
        if len(nxt) != 1:
            raise NirError(f"{self.describe(name)} feeds {len(nxt)} nodes {nxt}; hypr-edge reads a chain of layers")
        if isinstance(self.nodes[nxt[0]], nir.Output):
            raise NirError(f"the graph ends in spiking neurons, {self.describe(name)}; hypr-edge's readout integrates "
                           "the last layer's spikes: end with Affine -> Output or Affine -> LI -> Output")
        layer = LayerSpec(w_in=w * scale[:, None], w_rec=w_rec, bias=b * scale + v_leak, params={"alpha": alpha})
        return layer, threshold, nxt[0]

    def leaky_readout(self, name: str, w: np.ndarray, b: np.ndarray):
        node, c = self.nodes[name], w.shape[0]
        self.visited.add(name)
        tau, r, v_leak = (_vector(name, node, f, c) for f in ("tau", "r", "v_leak"))
        alpha = 1.0 - self.dt / tau
        # τ = dt is a memoryless readout (α = 0), the form hypr-edge exports for α_out = 0 beside leaky outputs.
        alpha[np.isclose(tau, self.dt, rtol=1e-6, atol=0)] = 0.0
        if np.any(tau <= 0) or np.any(alpha < 0) or np.any(alpha >= 1):
            raise NirError(f"{self.describe(name)}: τ gives α = 1 − dt/τ outside [0, 1) with dt = {self.dt:g}; "
                           "pass the dt the graph was made with (--dt)")
        return w * r[:, None], b * r + v_leak, alpha

    def spec(self, layers, thresholds, readout) -> NetworkSpec:
        neuron = LIF_RESETS[self.lif_reset]
        values = np.concatenate(thresholds)
        if np.all(values == values[0]):
            threshold = float(values[0])
        else:
            # One threshold per network in hypr-edge: divide each neuron's membrane by its own threshold. Exact for
            # both resets (u/ϑ resets to 0 or loses 1 when it crosses 1); the readout sees only spikes.
            threshold = 1.0
            for layer, t in zip(layers, thresholds):
                layer.w_in, layer.bias = layer.w_in / t[:, None], layer.bias / t
                if layer.w_rec is not None:
                    layer.w_rec = layer.w_rec / t[:, None]
        w_out, b_out, alpha_out = readout
        try:
            return NetworkSpec(neuron=neuron, layers=layers, w_out=w_out, b_out=b_out, alpha_out=alpha_out,
                               constants={"threshold": threshold},
                               info={"source": "nir", "nir_dt": repr(self.dt), "nir_lif_reset": self.lif_reset})
        except SpecError as err:
            raise NirError(str(err)) from None


def _graph_metadata(graph, key: str):
    value = (getattr(graph, "metadata", None) or {}).get(key)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    return value


def import_nir(graph, *, dt: float | None = None, lif_reset: str | None = None) -> NetworkSpec:
    """A NetworkSpec that computes exactly what `graph` (a nir.NIRGraph or a .nir path) describes.

    dt: the step that turns τ into α = 1 − dt/τ; default the graph's own (hypr-edge writes it in the metadata),
    else DEFAULT_DT (snnTorch's). lif_reset: "zero" (NIR's meaning: `lif_zero`) or "subtract" (snnTorch's default
    neurons, which it also writes with v_reset = 0: `lif`); default the graph's metadata, else "zero".
    Raises NirError naming the node for anything that would be dropped or approximated.
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    if dt is None:
        dt = float(_graph_metadata(graph, DT_KEY) or DEFAULT_DT)
    if lif_reset is None:
        lif_reset = str(_graph_metadata(graph, RESET_KEY) or "zero")
    if lif_reset not in LIF_RESETS:
        raise NirError(f"lif_reset must be one of {', '.join(LIF_RESETS)}, got {lif_reset!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise NirError(f"dt must be a positive number, got {dt!r}")
    return _Importer(graph, float(dt), lif_reset).run()


# ---------------------------------------------------------------- export

#: NIR's resistance R on export: "unit" (R = 1, the weights as they are; what Norse reads) or "snntorch" (R = τ/dt
#: with the weight rows times 1 − α, so the input enters unscaled; snnTorch's importer requires it).
RESISTANCES = ("unit", "snntorch")


def export_nir(spec: NetworkSpec, *, dt: float | None = None, resistance: str = "unit", lif_reset: str | None = None):
    """The NIR graph of `spec`: Input -> per layer Affine(W_in, b) -> LIF [⇄ Linear(W_rec)] -> Affine(W_out, b_out)
    [-> LI when some α_out > 0] -> Output, with τ = dt/(1 − α).

    A `lif_zero` network is what NIR's LIF means. A `lif` network (subtract reset) is written only with
    lif_reset="subtract", marked in the graph's metadata: other tools read those nodes as reset-to-zero.
    Raises NirError for the neurons NIR has no node for.
    """
    nir = _nir()
    if spec.neuron not in LIF_RESETS.values():
        lacks = NOT_IN_NIR.get(spec.neuron, "this neuron model")
        raise NirError(f"NIR cannot express {spec.neuron!r} neurons: it has no node for {lacks} (its neurons are "
                       "LIF, CubaLIF, IF, LI, CubaLI and I)")
    reset = {v: k for k, v in LIF_RESETS.items()}[spec.neuron]
    if spec.neuron == "lif" and lif_reset != "subtract":
        raise NirError("a 'lif' network subtracts the threshold at reset, while NIR's LIF resets to v_reset = 0 and "
                       "other tools read it so; pass lif_reset='subtract' (--lif-reset subtract) to write it anyway, "
                       "marked in the graph's metadata, or use a reset-to-zero network (neuron 'lif_zero')")
    if lif_reset is not None and lif_reset != reset:
        raise NirError(f"lif_reset={lif_reset!r} does not match the network's {spec.neuron!r} neurons ({reset} reset)")
    if resistance not in RESISTANCES:
        raise NirError(f"resistance must be one of {', '.join(RESISTANCES)}, got {resistance!r}")
    dt = float(spec.info.get("nir_dt", DEFAULT_DT)) if dt is None else float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise NirError(f"dt must be a positive number, got {dt!r}")

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    threshold = float(spec.constants["threshold"])
    nodes = {"input": nir.Input(input_type={"input": np.array([spec.n_inputs])})}
    edges, prev = [], "input"
    for i, layer in enumerate(spec.layers):
        n = layer.size
        alpha = np.asarray(layer.params["alpha"], dtype=np.float64)
        tau = dt / (1.0 - alpha)
        r, rows = (np.ones(n), np.ones(n)) if resistance == "unit" else (tau / dt, 1.0 - alpha)
        fc, lif = f"layers.{i}.w_in", f"layers.{i}.lif"
        nodes[fc] = nir.Affine(weight=f32(layer.w_in * rows[:, None]), bias=f32(layer.bias * rows))
        nodes[lif] = nir.LIF(tau=f32(tau), r=f32(r), v_leak=f32(np.zeros(n)), v_threshold=f32(np.full(n, threshold)),
                             v_reset=f32(np.zeros(n)))
        edges += [(prev, fc), (fc, lif)]
        if layer.w_rec is not None:
            rec = f"layers.{i}.w_rec"
            nodes[rec] = nir.Linear(weight=f32(layer.w_rec * rows[:, None]))
            edges += [(lif, rec), (rec, lif)]
        prev = lif
    nodes["readout.w_out"] = nir.Affine(weight=f32(spec.w_out), bias=f32(spec.b_out))
    edges.append((prev, "readout.w_out"))
    prev = "readout.w_out"
    alpha_out = np.asarray(spec.alpha_out, dtype=np.float64)
    if np.any(alpha_out > 0):
        c = spec.n_outputs
        nodes["readout.li"] = nir.LI(tau=f32(dt / (1.0 - alpha_out)), r=f32(np.ones(c)), v_leak=f32(np.zeros(c)))
        edges.append((prev, "readout.li"))
        prev = "readout.li"
    nodes["output"] = nir.Output(output_type={"output": np.array([spec.n_outputs])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={DT_KEY: dt, RESET_KEY: reset})
