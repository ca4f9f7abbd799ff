"""The model artifact: one time step of the network as an ONNX graph (docs/onnx.md).

`export_onnx(spec, path)` writes the step graph (state and input in -> new state, spikes and readout out) with
standard ops only, so onnxruntime or any ONNX tool can run it; the weights and per-neuron parameters are graph
initializers under stable names and the neuron type, constants and sizes are metadata, so `load_onnx(path)` rebuilds
the NetworkSpec from the file alone. Everything is float32: the round trip is exact for float32 values.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import __version__
from .network_spec import LayerSpec, NetworkSpec, SpecError
from .neurons import MODELS, make_neuron

__all__ = ["OnnxFormatError", "export_onnx", "load_onnx", "onnx_model", "run_onnx_sequence", "state_input_names"]

FORMAT = "hypr-edge-rsnn"
VERSION = "1"
OPSET = 17
IR_VERSION = 8  # the IR of opset 17: readable by onnxruntime >= 1.11, not only the newest
BATCH = "batch"
NEXT = ".next"  # output `name.next` is the new value of state input `name`


class OnnxFormatError(ValueError):
    """A file that is not a readable hypr-edge model (missing, corrupt, foreign, wrong version or ill-shaped)."""


def state_input_names(spec: NetworkSpec) -> list[str]:
    """Names of the state inputs, in graph order: per layer the neuron model's state names, then the readout."""
    names = [f"layers.{i}.{s}" for i in range(len(spec.layers)) for s in spec.state_names]
    return names + ["readout.o"]


# ---------------------------------------------------------------- export


class _Graph:
    """Collects nodes with unique names; `op(...)` returns the output tensor name."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.consts: dict[float, str] = {}

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or f"t{len(self.nodes)}_{op_type}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"n{len(self.nodes)}_{op_type}", **attrs))
        return out

    def const(self, value: float) -> str:
        """A float32 scalar (broadcasts against (batch, N))."""
        value = float(np.float32(value))
        if value not in self.consts:
            name = f"const.{len(self.consts)}"
            self.nodes.append(helper.make_node("Constant", [], [name], name=f"n{len(self.nodes)}_Constant",
                                               value_float=value))
            self.consts[value] = name
        return self.consts[value]

    def heaviside(self, h: str) -> str:
        """z = H(h) as float, H(0) = 0."""
        return self.op("Cast", self.op("Greater", h, self.const(0.0)), to=TensorProto.FLOAT)


def _initializers(spec: NetworkSpec) -> dict[str, np.ndarray]:
    """Every stored tensor by its ONNX name, float32."""
    out = {}
    for i, layer in enumerate(spec.layers):
        out[f"layers.{i}.w_in"] = layer.w_in
        if layer.w_rec is not None:
            out[f"layers.{i}.w_rec"] = layer.w_rec
        out[f"layers.{i}.bias"] = layer.bias
        for name in spec.model.param_names:
            out[f"layers.{i}.{name}"] = layer.params[name]
    out.update({"readout.w_out": spec.w_out, "readout.b_out": spec.b_out, "readout.alpha_out": spec.alpha_out})
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}


def onnx_model(spec: NetworkSpec) -> onnx.ModelProto:
    """The one-step ONNX model of `spec` (checked with onnx.checker)."""
    spec.validate()
    g = _Graph()
    neuron = make_neuron(spec.neuron, spec.constants)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH, spec.n_inputs])]
    outputs = []
    layer_in = "x"
    for i, layer in enumerate(spec.layers):
        p = f"layers.{i}."
        state = {s: p + s for s in spec.state_names}
        inputs += [helper.make_tensor_value_info(p + s, TensorProto.FLOAT, [BATCH, layer.size]) for s in state]

        def current_of(z_prev, p=p, layer=layer, x=layer_in):
            # I_t = W_in x_t + W_rec z_{t-1} + b: Gemm computes A B^T + C, so the second Gemm adds on the first
            current = g.op("Gemm", x, p + "w_in", p + "bias", transB=1)
            if layer.w_rec is not None:
                current = g.op("Gemm", z_prev, p + "w_rec", current, transB=1)
            return current

        # the neuron update (its model's onnx_step), in the operation order of its torch step so that float32
        # results agree with the torch model to the last bits where possible
        new = neuron.onnx_step(g, p, state, current_of)
        for s in spec.state_names:
            outputs.append(helper.make_tensor_value_info(g.op("Identity", new[s], out=p + s + NEXT),
                                                         TensorProto.FLOAT, [BATCH, layer.size]))
        layer_in = g.op("Identity", new["z"], out=p + "z")  # the next layer takes this step's spikes
        outputs.append(helper.make_tensor_value_info(layer_in, TensorProto.FLOAT, [BATCH, layer.size]))
    # Readout: o_t = alpha_o o_{t-1} + (1 - alpha_o)(W_out z_t + b_out)
    c = spec.n_outputs
    inputs.append(helper.make_tensor_value_info("readout.o", TensorProto.FLOAT, [BATCH, c]))
    drive = g.op("Gemm", layer_in, "readout.w_out", "readout.b_out", transB=1)
    o = g.op("Add", g.op("Mul", "readout.alpha_out", "readout.o"),
             g.op("Mul", g.op("Sub", g.const(1.0), "readout.alpha_out"), drive), out="o")
    o_next = g.op("Identity", o, out="readout.o" + NEXT)
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH, c]) for name in (o, o_next)]

    inits = [numpy_helper.from_array(a, name) for name, a in _initializers(spec).items()]
    graph = helper.make_graph(g.nodes, "hypr_edge_rsnn_step", inputs, outputs, inits,
                              doc_string=f"one time step of a {spec.neuron} RSNN {spec.hidden_sizes}")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="hypr-edge", producer_version=__version__)
    meta = {
        "hypr_edge.format": FORMAT,
        "hypr_edge.version": VERSION,
        "hypr_edge.neuron": spec.neuron,
        "hypr_edge.n_inputs": str(spec.n_inputs),
        "hypr_edge.n_outputs": str(spec.n_outputs),
        "hypr_edge.hidden_sizes": json.dumps(spec.hidden_sizes),
        "hypr_edge.recurrent": json.dumps([layer.w_rec is not None for layer in spec.layers]),
        "hypr_edge.state_names": json.dumps(list(spec.state_names)),
        "hypr_edge.constants": json.dumps({k: float(v) for k, v in spec.constants.items()}),  # repr: exact float64
        "hypr_edge.info": json.dumps({str(k): str(v) for k, v in spec.info.items()}),
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(spec: NetworkSpec, path: str | os.PathLike) -> None:
    """Write the one-step ONNX model of `spec` to `path` (under a temporary name, moved into place when whole)."""
    from .outputs import atomic_path
    model = onnx_model(spec)
    with atomic_path(path) as tmp:
        onnx.save_model(model, os.fspath(tmp))


# ---------------------------------------------------------------- load


def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise OnnxFormatError(f"{path}: no such model file")
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf raises DecodeError and friends; the user needs only the verdict
        raise OnnxFormatError(f"{path}: not an ONNX model (the file is corrupt or truncated: {type(err).__name__})") \
            from None
    if not model.HasField("graph") or not model.opset_import:
        # protobuf is lenient: random or truncated bytes can parse as an (almost) empty message
        raise OnnxFormatError(f"{path}: not an ONNX model (no graph; the file is corrupt or truncated)")
    return model


def _meta(model: onnx.ModelProto, path: Path) -> dict[str, str]:
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("hypr_edge.format") != FORMAT:
        if model.producer_name == "hypr-edge":  # metadata comes last in the file: a cut file loses it first
            raise OnnxFormatError(f"{path}: a hypr-edge model without its metadata (the file is truncated or edited)")
        raise OnnxFormatError(f"{path}: an ONNX model ({model.producer_name or 'unknown producer'}) but not a "
                              f"hypr-edge RSNN (metadata hypr_edge.format is not {FORMAT!r})")
    if "hypr_edge.version" not in meta:
        raise OnnxFormatError(f"{path}: hypr-edge metadata 'hypr_edge.version' is missing "
                              "(the file is truncated or edited)")
    if meta["hypr_edge.version"] != VERSION:
        raise OnnxFormatError(f"{path}: hypr-edge model format version {meta['hypr_edge.version']!r} "
                              f"is not supported (this hypr-edge {__version__} reads version {VERSION})")
    return meta


def load_onnx(path: str | os.PathLike) -> NetworkSpec:
    """Read a model written by `export_onnx` back into a NetworkSpec (float32 arrays), from the file alone.

    Raises OnnxFormatError with one message for a missing, corrupt, foreign, unsupported or ill-shaped file.
    """
    path = Path(path)
    model = _read(path)
    meta = _meta(model, path)
    try:
        neuron = meta["hypr_edge.neuron"]
        if neuron not in MODELS:
            raise ValueError(f"unknown neuron model {neuron!r}")
        n_in, n_out = int(meta["hypr_edge.n_inputs"]), int(meta["hypr_edge.n_outputs"])
        sizes = [int(n) for n in json.loads(meta["hypr_edge.hidden_sizes"])]
        recurrent = [bool(r) for r in json.loads(meta["hypr_edge.recurrent"])]
        constants = {str(k): float(v) for k, v in json.loads(meta["hypr_edge.constants"]).items()}
        info = {str(k): str(v) for k, v in json.loads(meta["hypr_edge.info"]).items()}
        if not sizes or len(recurrent) != len(sizes):
            raise ValueError("hidden_sizes and recurrent do not match")
    except KeyError as err:  # every key is required: a missing one means a cut or edited file
        raise OnnxFormatError(f"{path}: hypr-edge metadata {err} is missing (the file is truncated or edited)") \
            from None
    except (ValueError, TypeError, AttributeError) as err:
        raise OnnxFormatError(f"{path}: malformed hypr-edge metadata ({type(err).__name__}: {err})") from None

    tensors = {t.name: t for t in model.graph.initializer}

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in tensors:
            raise OnnxFormatError(f"{path}: tensor {name} is missing from the model")
        try:
            value = numpy_helper.to_array(tensors[name]).copy()  # writable, independent of the protobuf
        except Exception as err:  # e.g. raw data of the wrong length
            raise OnnxFormatError(f"{path}: tensor {name} cannot be read ({type(err).__name__})") from None
        if value.dtype != np.float32 or value.shape != shape:
            raise OnnxFormatError(f"{path}: tensor {name} is {value.dtype}{list(value.shape)}, "
                                  f"expected float32{list(shape)}")
        return value

    layers, fan_in = [], n_in
    for i, (n, rec) in enumerate(zip(sizes, recurrent)):
        p = f"layers.{i}."
        layers.append(LayerSpec(
            w_in=tensor(p + "w_in", (n, fan_in)),
            w_rec=tensor(p + "w_rec", (n, n)) if rec else None,
            bias=tensor(p + "bias", (n,)),
            params={name: tensor(p + name, (n,)) for name in MODELS[neuron].param_names}))
        fan_in = n
    try:
        return NetworkSpec(neuron=neuron, layers=layers, w_out=tensor("readout.w_out", (n_out, fan_in)),
                           b_out=tensor("readout.b_out", (n_out,)), alpha_out=tensor("readout.alpha_out", (n_out,)),
                           constants=constants, info=info)
    except SpecError as err:
        raise OnnxFormatError(f"{path}: {err}") from None


# ---------------------------------------------------------------- run


def run_onnx_sequence(path: str | os.PathLike, x: np.ndarray, return_states: bool = False) -> dict:
    """Run the step model in onnxruntime over x (B, T, n_inputs) from the zero state.

    Returns {"readout": (B, T, C), "spikes": [(B, T, N_i) per layer]}, float32, and with return_states also
    "states": {state input name: its value after each step, (B, T, width)}.
    """
    import onnxruntime as ort

    spec = load_onnx(path)  # a clear error for a bad file before onnxruntime sees it
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != spec.n_inputs:
        raise ValueError(f"x has shape {x.shape}, expected (batch, steps, {spec.n_inputs})")
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    batch, steps = x.shape[:2]
    state = {i.name: np.zeros((batch, i.shape[1]), np.float32) for i in session.get_inputs() if i.name != "x"}
    spike_names = [f"layers.{i}.z" for i in range(len(spec.layers))]
    fetch = ["o", *spike_names, *(name + NEXT for name in state)]
    record = {name: np.zeros((batch, steps, value.shape[1]), np.float32) for name, value in state.items()}
    record.update({name: np.zeros((batch, steps, n), np.float32) for name, n in zip(spike_names, spec.hidden_sizes)})
    for t in range(steps):
        values = dict(zip(fetch, session.run(fetch, {"x": np.ascontiguousarray(x[:, t]), **state})))
        state = {name: values[name + NEXT] for name in state}
        for name, value in [*state.items(), *((n, values[n]) for n in spike_names)]:
            record[name][:, t] = value
    out = {"readout": record["readout.o"], "spikes": [record[n] for n in spike_names]}
    if return_states:
        out["states"] = {name: record[name] for name in state}
    return out
