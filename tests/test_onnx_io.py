"""The ONNX model artifact: exact round trip, runs in onnxruntime like the torch model, clear errors for bad files."""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from hypr_edge.model import build_model, model_from_spec
from hypr_edge.network_spec import LayerSpec, NetworkSpec
from hypr_edge.neurons import NEURONS, make_neuron, model_class
from hypr_edge.onnx_io import (OnnxFormatError, export_onnx, load_onnx, onnx_model, run_onnx_sequence,
                               state_input_names)

def numpy_spec(neuron, hidden=(7,), recurrent=(True,), n_in=5, n_out=3, seed=0) -> NetworkSpec:
    """A float64 spec with values that are not float32-representable, so the test sees the float32 rounding."""
    rng = np.random.default_rng(seed)
    model = make_neuron(neuron)
    layers, fan_in = [], n_in
    for n, rec in zip(hidden, recurrent):
        layers.append(LayerSpec(w_in=rng.normal(0, 1, (n, fan_in)), w_rec=rng.normal(0, 1, (n, n)) if rec else None,
                                bias=rng.normal(0, 1, n), params=model.random_params(rng, n)))
        fan_in = n
    return NetworkSpec(neuron=neuron, layers=layers, w_out=rng.normal(0, 1, (n_out, fan_in)),
                       b_out=rng.normal(0, 1, n_out), alpha_out=rng.uniform(0, 0.95, n_out),
                       constants={k: 0.9 * v for k, v in model.default_constants.items()},  # not the defaults
                       info={"task": "unit-test", "encoding": "currents, 1 per step"})


def f32(a):
    return None if a is None else np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("hidden,recurrent", [((7,), (True,)), ((7,), (False,)), ((7, 4), (True, True)),
                                              ((6, 4), (False, True))])
def test_round_trip_is_float32_exact(tmp_path, neuron, hidden, recurrent):
    spec = numpy_spec(neuron, hidden, recurrent, seed=len(hidden) + sum(recurrent))
    path = tmp_path / "model.onnx"
    export_onnx(spec, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    back = load_onnx(path)

    assert back.neuron == neuron and back.hidden_sizes == list(hidden)
    assert back.constants == spec.constants and back.info == spec.info  # float64 constants survive exactly
    pairs = [(back.w_out, spec.w_out), (back.b_out, spec.b_out), (back.alpha_out, spec.alpha_out)]
    for got, want in zip(back.layers, spec.layers):
        assert (got.w_rec is None) == (want.w_rec is None)
        assert set(got.params) == set(want.params)
        pairs += [(got.w_in, want.w_in), (got.w_rec, want.w_rec), (got.bias, want.bias)]
        pairs += [(got.params[k], want.params[k]) for k in want.params]
    for got, want in pairs:
        if want is None:
            continue
        assert got.dtype == np.float32 and got.flags.writeable
        np.testing.assert_array_equal(got, f32(want))
    # exporting what was read gives the same file content: nothing is lost or re-rounded
    export_onnx(back, tmp_path / "again.onnx")
    assert onnx.load(tmp_path / "again.onnx").SerializeToString() == onnx.load(path).SerializeToString()


def test_graph_interface_and_metadata(tmp_path):
    spec = numpy_spec("brf", (7, 4), (True, False))
    model = onnx_model(spec)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    assert inputs == ["x", *state_input_names(spec)]
    assert inputs[1:] == ["layers.0.u", "layers.0.v", "layers.0.r", "layers.1.u", "layers.1.v", "layers.1.r",
                          "readout.o"]
    assert set(outputs) == {"o", "layers.0.z", "layers.1.z", *(name + ".next" for name in inputs[1:])}
    for value in [*model.graph.input, *model.graph.output]:  # dynamic batch, fixed width
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and dims[1].dim_value > 0
    assert {n.domain for n in model.graph.node} == {""}  # standard ops only
    assert {o.domain: o.version for o in model.opset_import} == {"": 17}
    assert {t.name for t in model.graph.initializer} == {
        "layers.0.w_in", "layers.0.w_rec", "layers.0.bias", "layers.0.omega", "layers.0.b_offset",
        "layers.1.w_in", "layers.1.bias", "layers.1.omega", "layers.1.b_offset",
        "readout.w_out", "readout.b_out", "readout.alpha_out"}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["hypr_edge.format"] == "hypr-edge-rsnn" and meta["hypr_edge.version"] == "1"
    assert meta["hypr_edge.neuron"] == "brf"
    assert json.loads(meta["hypr_edge.hidden_sizes"]) == [7, 4]
    assert json.loads(meta["hypr_edge.recurrent"]) == [True, False]
    assert json.loads(meta["hypr_edge.constants"]) == spec.constants
    assert json.loads(meta["hypr_edge.info"]) == spec.info


# ---------------------------------------------------------------- onnxruntime against the torch model


def driven_spec(neuron, hidden, seed=0) -> NetworkSpec:
    """A trained-looking network driven hard enough that every layer spikes at a few to tens of percent."""
    gain = 3.0 * model_class(neuron).drive  # the model's input scale: BRF, for one, integrates delta * I per step
    spec = build_model(neuron=neuron, n_inputs=6, hidden=hidden, n_outputs=4, seed=seed).to_spec()
    rng = np.random.default_rng(seed)
    for layer in spec.layers:
        layer.w_in *= gain
        layer.w_rec *= gain / 2
        layer.bias = rng.uniform(0.8, 1.8, layer.size) * gain / 3
    spec.b_out = rng.normal(0, 0.1, spec.n_outputs)
    return spec


def torch_trajectory(model, x: torch.Tensor, state_names):
    """The torch model's readout, spikes and states per step, named like the ONNX state inputs.

    Steps the model's own layers (forward_step, readout.step); that this loop is the model's forward pass is
    checked against model(x) below, so the neuron equations exist only in hypr_edge.neurons.
    """
    batch, steps, _ = x.shape
    states = [layer.initial_state(batch) for layer in model.layers]
    o = x.new_zeros(batch, model.n_outputs)
    record = {}
    for t in range(steps):
        inp = x[:, t]
        for i, layer in enumerate(model.layers):
            states[i], inp, _, _ = layer.forward_step(states[i], inp)
            record.setdefault(f"layers.{i}.z", []).append(inp)
            for k, name in enumerate(state_names):
                record.setdefault(f"layers.{i}.{name}", []).append(states[i][..., k])
        o = model.readout.step(o, inp)
        record.setdefault("readout.o", []).append(o)
    return {name: torch.stack(values, 1).numpy() for name, values in record.items()}


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("hidden", [[16], [12, 10]])
def test_onnxruntime_matches_torch(tmp_path, neuron, hidden):
    spec = driven_spec(neuron, hidden)
    path = tmp_path / "model.onnx"
    export_onnx(spec, path)
    x = np.random.default_rng(1).normal(0, 1, (8, 60, 6)).astype(np.float32)

    got = run_onnx_sequence(path, x, return_states=True)
    model = model_from_spec(load_onnx(path), dtype=torch.float32)  # the torch model of exactly the file's values
    with torch.no_grad():
        o, spikes = model(torch.from_numpy(x), return_spikes=True)
        want = torch_trajectory(model, torch.from_numpy(x), spec.state_names)
    np.testing.assert_array_equal(want["readout.o"], o.numpy())
    for i, z in enumerate(spikes):
        np.testing.assert_array_equal(want[f"layers.{i}.z"], z.numpy())

    got_all = {**got["states"], **{f"layers.{i}.z": z for i, z in enumerate(got["spikes"])}}
    assert set(got_all) == set(want)
    np.testing.assert_array_equal(got["readout"], got["states"]["readout.o"])
    for i, z in enumerate(got["spikes"]):
        assert z.shape == (8, 60, hidden[i]) and z.dtype == np.float32
        assert 0.02 < want[f"layers.{i}.z"].mean() < 0.5, "the network must spike for the comparison to mean much"
    # A spike can flip where the pre-activation lies within float rounding of the threshold, and the trajectories
    # part from there. So per sequence: compare up to its first differing spike, and allow at most one such sequence.
    differs = np.zeros(x.shape[:2], bool)
    for i in range(len(hidden)):
        differs |= (got_all[f"layers.{i}.z"] != want[f"layers.{i}.z"]).any(axis=2)
    first = np.where(differs.any(axis=1), differs.argmax(axis=1), x.shape[1])
    assert (first < x.shape[1]).sum() <= 1, f"spikes differ in sequences {np.flatnonzero(first < x.shape[1])}"
    for name in want:
        for b, t in enumerate(first):
            np.testing.assert_allclose(got_all[name][b, :t], want[name][b, :t], rtol=1e-5, atol=1e-5, err_msg=name)


def test_spike_is_strictly_above_threshold(tmp_path):
    """H(0) = 0: a LIF membrane exactly at threshold does not spike (and is not reset)."""
    import onnxruntime as ort
    spec = numpy_spec("lif", (3,), (False,))
    spec.layers[0].params["alpha"][:] = 1.0  # u_t = u_{t-1} - threshold z_{t-1}: u stays exactly where it is
    path = tmp_path / "model.onnx"
    export_onnx(spec, path)
    thr = np.float32(spec.constants["threshold"])
    u = np.array([[thr, np.nextafter(thr, 2, dtype=np.float32), 0.0]], np.float32)
    feeds = {"x": np.zeros((1, 5), np.float32), "layers.0.u": u, "readout.o": np.zeros((1, 3), np.float32)}
    u_next, z = ort.InferenceSession(str(path)).run(["layers.0.u.next", "layers.0.z"], feeds)
    np.testing.assert_array_equal(u_next[0], [thr, u[0, 1] - np.float32(thr), 0.0])  # only the one above resets
    np.testing.assert_array_equal(z[0], [0.0, 0.0, 0.0])


def test_run_onnx_sequence_checks_its_input(tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(numpy_spec("lif"), path)
    with pytest.raises(ValueError, match="expected \\(batch, steps, 5\\)"):
        run_onnx_sequence(path, np.zeros((2, 3, 4), np.float32))
    out = run_onnx_sequence(path, np.zeros((1, 0, 5)))  # no steps: empty but well-shaped
    assert out["readout"].shape == (1, 0, 3) and out["spikes"][0].shape == (1, 0, 7)


# ---------------------------------------------------------------- bad files


def expect_error(path, *fragments):
    with pytest.raises(OnnxFormatError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.__cause__ is None and (info.value.__suppress_context__ or info.value.__context__ is None)
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.onnx", "no such model file")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect_error(path, "not an ONNX model")


def test_every_truncation_is_rejected(tmp_path):
    good = tmp_path / "good.onnx"
    export_onnx(numpy_spec("alif", (3,), (True,), n_in=2, n_out=2), good)
    data = good.read_bytes()
    messages = set()
    for n in reversed(range(len(data))):  # every strict prefix, down to the empty file
        os.truncate(good, n)  # cheaper than writing a new file each time
        messages.add(expect_error(good).split(": ", 1)[1].split(" (")[0])
    # a cut file is called corrupt/truncated, never a valid foreign model
    assert all("truncated" in m or "not an ONNX model" in m or "hypr-edge" in m for m in messages), messages


def test_foreign_onnx_model(tmp_path):
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "plain_add",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
    path = tmp_path / "add.onnx"
    onnx.save_model(helper.make_model(graph, producer_name="someone-else"), path)
    expect_error(path, "not a hypr-edge RSNN", "someone-else")


def edited(tmp_path, edit):
    """Export a small model, apply `edit` to the protobuf, save it again."""
    model = onnx_model(numpy_spec("brf", (4, 3), (True, True)))
    edit(model)
    path = tmp_path / "edited.onnx"
    onnx.save_model(model, path)
    return path


def set_meta(key, value):
    def edit(model):
        meta = {p.key: p.value for p in model.metadata_props}
        meta[key] = value
        del model.metadata_props[:]
        helper.set_model_props(model, meta)
    return edit


def test_unsupported_version(tmp_path):
    expect_error(edited(tmp_path, set_meta("hypr_edge.version", "2")), "version '2' is not supported")


def test_malformed_metadata(tmp_path):
    expect_error(edited(tmp_path, set_meta("hypr_edge.hidden_sizes", "[4, 3")), "malformed hypr-edge metadata")
    expect_error(edited(tmp_path, set_meta("hypr_edge.neuron", "izhikevich")), "unknown neuron model 'izhikevich'")


def test_missing_tensor(tmp_path):
    def drop(model):
        keep = [t for t in model.graph.initializer if t.name != "layers.1.w_rec"]
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
    expect_error(edited(tmp_path, drop), "tensor layers.1.w_rec is missing")


def test_ill_shaped_and_wrong_type_tensors(tmp_path):
    def replace(name, value):
        def edit(model):
            i = [t.name for t in model.graph.initializer].index(name)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))
        return edit
    expect_error(edited(tmp_path, replace("layers.1.w_in", np.zeros((3, 5), np.float32))),
                 "tensor layers.1.w_in is float32[3, 5], expected float32[3, 4]")
    expect_error(edited(tmp_path, replace("readout.b_out", np.zeros(3, np.float64))),
                 "tensor readout.b_out is float64[3], expected float32[3]")
    expect_error(edited(tmp_path, replace("layers.0.omega", np.array([1, np.nan, 2, 3], np.float32))),
                 "NaN or infinite")
