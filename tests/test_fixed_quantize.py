"""Quantizer: refusals with one clear message, the model file round trip, the CLI commands."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.quantize import QuantizedModel, QuantizeError, quantize
from hypr_edge.fixed.random_models import random_spec
from hypr_edge.fixed.spec import rshift_round, softmax_eps, exp2_table, xorshift32, xorshift32_draws, stochastic_shift
from hypr_edge.network_spec import LayerSpec, NetworkSpec
from hypr_edge.neurons import NEURONS


def spec_of(neuron="brf", recurrent=True, seed=0):
    return random_spec(np.random.default_rng(seed), neuron, 4, 6, 3, recurrent)


def test_refuses_brf_with_large_delta_omega():
    spec = spec_of()
    spec.layers[0].params["omega"][2] = 150.0          # delta * omega = 1.5
    with pytest.raises(QuantizeError, match=r"delta\*omega = 1\.5 > 1"):
        quantize(spec)


def test_refuses_two_layers_and_huge_weights():
    spec = spec_of("lif")
    l0 = spec.layers[0]
    two = NetworkSpec("lif", [l0, LayerSpec(np.ones((6, 6)), None, np.zeros(6), {"alpha": np.full(6, 0.9)})],
                      spec.w_out, spec.b_out, spec.alpha_out)
    with pytest.raises(QuantizeError, match="one hidden layer"):
        quantize(two)
    spec.layers[0].w_in[0, 0] = 1e6
    with pytest.raises(QuantizeError, match="int16 weight range"):
        quantize(spec)


@pytest.mark.parametrize("neuron", NEURONS)
def test_file_round_trip_keeps_hash_and_behaviour(tmp_path, neuron):
    qm = quantize(spec_of(neuron), chunk=7, learn="readout", lr=0.01)
    qm.save(tmp_path / "m.q.npz")
    back = QuantizedModel.load(tmp_path / "m.q.npz")
    assert back.model_hash() == qm.model_hash()
    assert back.formats == qm.formats and back.chunk == 7 and back.learn == "readout"
    x = qm.quantize_inputs((np.random.default_rng(1).random((2, 20, 4)) < 0.4) * 1.0)
    a, b = Emulator(qm, 2).run(x), Emulator(back, 2).run(x)
    assert all(np.array_equal(a[k], b[k]) for k in ("states", "spikes", "outputs"))
    qm.w[0, 0] += 1
    assert qm.model_hash() != back.model_hash()


@pytest.mark.parametrize("neuron", NEURONS)
def test_float_view_inverts_the_quantizer(neuron):
    """qm.to_spec() (the model's from_fixed) gives back the parameters and constants that fixed_values rounded."""
    spec = spec_of(neuron)
    deq = quantize(spec).to_spec()
    assert deq.constants == pytest.approx(spec.constants, rel=1e-4)
    for name, value in spec.layers[0].params.items():
        np.testing.assert_allclose(deq.layers[0].params[name], value, rtol=1e-3, atol=1e-5, err_msg=name)


def test_refuses_adlif_couplings_beyond_q8_24():
    spec = spec_of("adlif")
    p = spec.layers[0].params
    p["beta"][1], p["a"][1], p["b"][1] = 0.5, 0.5, 0.1    # (1 - beta) q = 60: kwa = 30, kwb = 6
    with pytest.raises(QuantizeError, match=r"constants \['kwa'\] exceed the Q8.24 range"):
        quantize(spec)
    p["a"][1] = -0.1
    with pytest.raises(QuantizeError, match="a and b must be >= 0"):
        quantize(spec)


def test_loading_a_wrong_file_says_what_it_is(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnx-ish")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(QuantizeError, match="an ONNX model: run `hypr-edge quantize` on it first"):
        QuantizedModel.load(tmp_path / "model.onnx")
    with pytest.raises(QuantizeError, match="not a quantized model file .expected a .q.npz"):
        QuantizedModel.load(tmp_path / "notes.txt")
    with pytest.raises(QuantizeError, match="no such file"):
        QuantizedModel.load(tmp_path / "missing.q.npz")


def test_rshift_round_is_half_up_floor_shift():
    v = np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3])
    assert list(rshift_round(v, 1)) == [-2, -2, -1, -1, 0, 0, 1, 1, 2]   # (v + 1) >> 1


def test_softmax_eps_sums_near_zero_and_ignores_negative_labels():
    rng = np.random.default_rng(0)
    o = rng.integers(-(1 << 20), 1 << 20, (50, 4))
    eps = softmax_eps(o, np.full(50, 2), 16, exp2_table())
    p = (eps + (np.arange(4) == 2) * (1 << 20)) / 2.0 ** 20
    ref = np.exp(o / 65536.0)
    ref /= ref.sum(1, keepdims=True)
    assert np.abs(p - ref).max() < 1e-4
    assert not softmax_eps(o, np.full(50, -1), 16, exp2_table()).any()


def test_xorshift_jump_ahead_equals_sequential_draws():
    seeds = np.array([1, 0x2545F491, 0xFFFFFFFF], dtype=np.uint64)
    draws, last = xorshift32_draws(seeds, 40)
    s = seeds.copy()
    for i in range(40):
        s = xorshift32(s)
        assert np.array_equal(draws[:, i], s)
    assert np.array_equal(last, s)
    assert int(xorshift32(np.uint64(1))) == 270369     # Marsaglia's xorshift32 (13, 17, 5) from state 1


def test_stochastic_rounding_is_unbiased():
    rng = np.random.default_rng(0)
    r = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64)
    out = stochastic_shift(np.full(r.shape, 3 * 2 ** 10 + 300, dtype=np.int64), r, 10)
    assert abs(out.mean() - (3 + 300 / 1024)) < 0.01


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_cli_quantize_generate_verify(tmp_path, capsys):
    onnx_io = pytest.importorskip("hypr_edge.onnx_io")
    onnx_io.export_onnx(spec_of("lif"), tmp_path / "m.onnx")
    assert main(["quantize", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.q.npz"), "--chunk", "6"]) == 0
    assert main(["generate", str(tmp_path / "m.q.npz"), "-o", str(tmp_path / "c"), "--build"]) == 0
    out = capsys.readouterr().out
    assert "B/synapse" in out and (tmp_path / "c" / "hypr_harness").exists()
    assert main(["verify", str(tmp_path / "m.q.npz"), "--learn", "--streams", "3", "--steps", "17"]) == 0
    assert "bit-identical" in capsys.readouterr().out
    bad = random_spec(np.random.default_rng(0), "brf", 4, 6, 3, True)
    bad.layers[0].params["omega"][:] = 500.0
    onnx_io.export_onnx(bad, tmp_path / "bad.onnx")
    assert main(["quantize", str(tmp_path / "bad.onnx")]) == 2
    assert "delta*omega" in capsys.readouterr().err
