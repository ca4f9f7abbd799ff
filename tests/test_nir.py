"""NIR in and out (hypr_edge/nir_io.py, docs/interop.md), against the real peers.

Float tolerance: spikes must be identical; readouts agree to 1e-5 (the peers run float32, and the NIR files hold
float32 time constants and weights, so α and the folded resistance differ from the originals by float32 rounding).
A readout through random weights differs by O(1) wherever one spike differs, so equal readouts also pin the spikes
of the peers that return only the readout.

The peers (snntorch, norse) and nir come from the optional extras that scripts/setup.sh installs for CI.
"""
from __future__ import annotations

import re
import shutil
import tempfile

import numpy as np
import pytest
import torch

from hypr_edge import model_from_spec
from hypr_edge.cli import main as cli_main
from hypr_edge.network_spec import LayerSpec, NetworkSpec
from hypr_edge.neurons import MODELS
from hypr_edge.onnx_io import export_onnx, load_onnx, run_onnx_sequence

nir = pytest.importorskip("nir", reason="needs the 'interop' extra: pip install -c scripts/constraints.txt "
                                        "-e '.[interop,peers]' (scripts/setup.sh does)")
from hypr_edge.nir_io import DEFAULT_DT, NirError, export_nir, import_nir, read_nir, write_nir  # noqa: E402

PEER_HINT = "needs the 'peers' test extra (scripts/setup.sh installs it)"
ATOL = 1e-5


def float_run(spec: NetworkSpec, x: np.ndarray):
    """hypr-edge's float64 torch model: readout (B, T, C) and the first layer's spikes (B, T, N)."""
    with torch.no_grad():
        out, spikes = model_from_spec(spec, dtype=torch.float64)(torch.as_tensor(x, dtype=torch.float64),
                                                                 return_spikes=True)
    return out.numpy(), spikes[0].numpy()


def inputs(n_in: int, seed: int = 0, batch: int = 3, steps: int = 80, scale: float = 2.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0.3, 1.0, (batch, steps, n_in)) * scale).astype(np.float32)


# ---------------------------------------------------------------- snnTorch -> hypr-edge


def snntorch_rleaky_net(reset: str, n_in=4, n=10, c=3, seed=0):
    """Input -> Linear -> RLeaky (all-to-all recurrence, per-neuron beta, threshold 1.2) -> Linear, as a snnTorch
    user builds it. reset "zero" is the snnTorch form NIR's LIF describes (reset_mechanism="zero",
    reset_delay=False); "subtract" is snnTorch's default neuron."""
    snn = pytest.importorskip("snntorch", reason=PEER_HINT)
    torch.manual_seed(seed)
    kwargs = dict(reset_mechanism="zero", reset_delay=False) if reset == "zero" else {}
    lif = snn.RLeaky(beta=torch.rand(n) * 0.25 + 0.7, linear_features=n, threshold=1.2, init_hidden=True, **kwargs)
    net = torch.nn.Sequential(torch.nn.Linear(n_in, n), lif, torch.nn.Linear(n, c))
    with torch.no_grad():
        lif.recurrent.weight.mul_(3.0)    # strong enough that recurrence changes the spikes
    return net, lif


def snntorch_run(net, lif, x: np.ndarray):
    """Readout and spikes of the snnTorch network over x (B, T, n_in), from the zero state."""
    fc_in, _, fc_out = net
    lif.reset_mem()
    outs, spikes = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            z = lif(fc_in(torch.as_tensor(x[:, t])))
            spikes.append(z)
            outs.append(fc_out(z))
    return torch.stack(outs, 1).numpy(), torch.stack(spikes, 1).numpy()


def snntorch_to_nir_file(net, n_in, path):
    from snntorch.export_nir import export_to_nir

    write_nir(export_to_nir(net, torch.zeros(n_in)), path)  # sample without batch: snnTorch's types need it
    return path


@pytest.mark.parametrize("reset,neuron", [("zero", "lif_zero"), ("subtract", "lif")])
def test_snntorch_rleaky_imports_with_the_same_spikes_and_readout(tmp_path, reset, neuron):
    net, lif = snntorch_rleaky_net(reset)
    graph = read_nir(snntorch_to_nir_file(net, 4, tmp_path / "net.nir"))
    assert any(isinstance(node, nir.LIF) for node in graph.nodes.values())
    spec = import_nir(graph, lif_reset=reset)
    assert spec.neuron == neuron and spec.hidden_sizes == [10] and spec.layers[0].w_rec is not None
    assert np.all(spec.alpha_out == 0) and spec.constants["threshold"] == pytest.approx(1.2)
    x = inputs(4)
    want_out, want_z = snntorch_run(net, lif, x)
    assert 0.05 < want_z.mean() < 0.6, "the test needs a spiking network"
    out, z = float_run(spec, x)
    assert np.array_equal(z, want_z)
    np.testing.assert_allclose(out, want_out, atol=ATOL, rtol=0)
    export_onnx(spec, tmp_path / "net.onnx")                 # and the ONNX artifact in onnxruntime, float32
    seq = run_onnx_sequence(tmp_path / "net.onnx", x)
    assert np.array_equal(seq["spikes"][0], want_z)
    np.testing.assert_allclose(seq["readout"], want_out, atol=ATOL, rtol=0)


def test_the_reset_matters(tmp_path):
    """Reading snnTorch's subtract-reset network as NIR says (reset to zero) gives other spikes: the choice is real."""
    net, lif = snntorch_rleaky_net("subtract")
    graph = read_nir(snntorch_to_nir_file(net, 4, tmp_path / "net.nir"))
    x = inputs(4)
    _, want_z = snntorch_run(net, lif, x)
    assert not np.array_equal(float_run(import_nir(graph), x)[1], want_z)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_snntorch_model_quantizes_and_runs_bit_exact_in_c(tmp_path):
    """snnTorch -> NIR -> hypr-edge -> quantize -> emulator = gcc-compiled C, for inference and on-device learning."""
    from hypr_edge.codegen.build import build_host
    from hypr_edge.codegen.verify import Stream, compare, run_c, run_emulator
    from hypr_edge.fixed.quantize import float_vs_fixed, quantize
    from hypr_edge.targets.registry import generate

    net, _ = snntorch_rleaky_net("zero")
    spec = import_nir(snntorch_to_nir_file(net, 4, tmp_path / "net.nir"))
    x = inputs(4, seed=1, batch=6, steps=60)
    y = np.arange(6) % 3
    qm = quantize(spec, calib_x=x, chunk=8, learn="all")
    agree = float_vs_fixed(spec, qm, x, y)
    assert agree["spike_agree"] > 0.95, agree
    rng = np.random.default_rng(2)
    streams = [Stream(qm.quantize_inputs(x[i]).astype(np.int64), rng.integers(-1, 3, 60), learn, 1 + i)
               for i, learn in enumerate([False, True, True])]
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    assert compare(c_res, e_res) is None
    assert len(e_res[1]["weights"]) == 60 // 8 + 1       # the device learned: one update per (partial) chunk
    assert not np.array_equal(e_res[1]["weights"][-1][0], qm.w)


# ---------------------------------------------------------------- hypr-edge -> peers


def hypr_spec(neuron="lif_zero", hidden=(9,), recurrent=True, n_in=4, c=3, alpha_out=None, threshold=1.0, seed=0):
    rng = np.random.default_rng(seed)
    layers, fan_in = [], n_in
    for n in hidden:
        layers.append(LayerSpec(w_in=rng.normal(0.4, 1.0, (n, fan_in)) * 3,
                                w_rec=rng.normal(0, 1.5, (n, n)) if recurrent else None,
                                bias=rng.normal(0, 0.2, n), params={"alpha": rng.uniform(0.75, 0.95, n)}))
        fan_in = n
    alpha_out = np.zeros(c) if alpha_out is None else np.asarray(alpha_out, dtype=np.float64)
    return NetworkSpec(neuron=neuron, layers=layers, w_out=rng.normal(0, 1, (c, fan_in)), b_out=rng.normal(0, 1, c),
                       alpha_out=alpha_out, constants={"threshold": threshold})


def run_graph_module(module, x: np.ndarray) -> np.ndarray:
    """A nirtorch module (snnTorch's and Norse's importers) stepped over x (B, T, n_in), carrying its state."""
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out, state = module(torch.as_tensor(x[:, t]), state)
            outs.append(out)
    return torch.stack(outs, 1).numpy()


def snntorch_import(graph):
    pytest.importorskip("snntorch", reason=PEER_HINT)
    from snntorch.import_nir import import_from_nir

    return import_from_nir(graph)


def norse_import(graph, dt):
    norse = pytest.importorskip("norse.torch", reason=PEER_HINT)
    return norse.from_nir(graph, dt=dt)


@pytest.mark.parametrize("hidden", [(9,), (9, 6)])
def test_hypr_edge_lif_loads_into_snntorch(tmp_path, hidden):
    spec = hypr_spec(hidden=hidden, recurrent=False)
    write_nir(export_nir(spec, resistance="snntorch"), tmp_path / "m.nir")
    module = snntorch_import(nir.read(tmp_path / "m.nir"))
    x = inputs(4, seed=3)
    out, z = float_run(spec, x)
    assert 0.05 < z.mean() < 0.6
    np.testing.assert_allclose(run_graph_module(module, x), out, atol=ATOL, rtol=0)


@pytest.mark.parametrize("hidden", [(9,), (9, 6)])
def test_hypr_edge_lif_loads_into_norse(tmp_path, hidden):
    spec = hypr_spec(hidden=hidden, recurrent=False)
    write_nir(export_nir(spec, dt=1e-3), tmp_path / "m.nir")
    module = norse_import(nir.read(tmp_path / "m.nir"), dt=1e-3)
    x = inputs(4, seed=4)
    out, z = float_run(spec, x)
    assert 0.05 < z.mean() < 0.6
    np.testing.assert_allclose(run_graph_module(module, x), out, atol=ATOL, rtol=0)


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="snnTorch 1.0 import_from_nir: the recurrent subgraph it builds feeds the layer's input "
                          "through w_rec (NIRTorch PR #51, snnTorch PR #380)")
def test_recurrent_hypr_edge_lif_in_snntorch(tmp_path):
    spec = hypr_spec(recurrent=True)
    module = snntorch_import(export_nir(spec, resistance="snntorch"))
    x = inputs(4, seed=5)
    np.testing.assert_allclose(run_graph_module(module, x), float_run(spec, x)[0], atol=ATOL, rtol=0)


def test_recurrent_hypr_edge_lif_loads_into_norse(tmp_path):
    spec = hypr_spec(recurrent=True)
    module = norse_import(export_nir(spec), dt=DEFAULT_DT)
    x = inputs(4, seed=6)
    out, z = float_run(spec, x)
    assert 0.05 < z.mean() < 0.6
    np.testing.assert_allclose(run_graph_module(module, x), out, atol=ATOL, rtol=0)


# ---------------------------------------------------------------- hypr-edge -> NIR -> hypr-edge


@pytest.mark.parametrize("neuron,hidden,recurrent", [("lif_zero", (8,), True), ("lif_zero", (8, 5), False),
                                                     ("lif", (7,), True)])
def test_round_trip_through_a_nir_file(tmp_path, neuron, hidden, recurrent):
    """Leaky readout (with one memoryless output), a threshold ≠ 1 and dt kept in the file's metadata."""
    spec = hypr_spec(neuron, hidden, recurrent, alpha_out=[0.0, 0.6, 0.9], threshold=1.3)
    graph = export_nir(spec, dt=2e-3, lif_reset="subtract" if neuron == "lif" else None)
    assert isinstance(graph.nodes["readout.li"], nir.LI)
    write_nir(graph, tmp_path / "m.nir")
    back = import_nir(tmp_path / "m.nir")                  # dt and the reset come from the metadata
    assert back.neuron == neuron and back.hidden_sizes == list(hidden) and back.info["nir_dt"] == "0.002"
    assert back.constants["threshold"] == pytest.approx(1.3)
    for a, b in zip(spec.layers, back.layers):
        np.testing.assert_allclose(b.w_in, a.w_in, rtol=1e-6)
        np.testing.assert_allclose(b.params["alpha"], a.params["alpha"], rtol=1e-6)
        assert (a.w_rec is None) == (b.w_rec is None)
    np.testing.assert_allclose(back.alpha_out, spec.alpha_out, atol=1e-6)
    x = inputs(4, seed=7)
    out, z = float_run(spec, x)
    out2, z2 = float_run(back, x)
    assert 0.05 < z.mean() < 0.6 and np.array_equal(z, z2)
    np.testing.assert_allclose(out2, out, atol=ATOL, rtol=0)


def test_snntorch_resistance_is_the_same_network():
    spec = hypr_spec()
    a, b = (import_nir(export_nir(spec, resistance=r)) for r in ("unit", "snntorch"))
    x = inputs(4, seed=8)
    out_a, z_a = float_run(a, x)
    out_b, z_b = float_run(b, x)
    assert np.array_equal(z_a, z_b)
    np.testing.assert_allclose(out_a, out_b, atol=ATOL, rtol=0)


# ---------------------------------------------------------------- hand-made graphs: what maps and what is refused


def chain(*nodes, loop=None):
    """Input -> nodes... -> Output, named n0, n1, ...; loop=(i, node): node i also feeds `node` which feeds it back."""
    names = {f"n{i}": node for i, node in enumerate(nodes)}
    width = np.asarray(nodes[0].weight).shape[1]
    out = nodes[-1].output_type["output"] if hasattr(nodes[-1], "output_type") else None
    graph_nodes = {"in": nir.Input(input_type={"input": np.array([width])}), **names,
                   "out": nir.Output(output_type={"output": np.asarray(out)})}
    keys = ["in", *names, "out"]
    edges = list(zip(keys, keys[1:]))
    if loop is not None:
        i, node = loop
        graph_nodes["rec"] = node
        edges += [(f"n{i}", "rec"), ("rec", f"n{i}")]
    return nir.NIRGraph(nodes=graph_nodes, edges=edges, type_check=False)


def lif(n=3, tau=1e-3, **kw):
    args = dict(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    args.update(kw)
    return nir.LIF(**args)


def affine(rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    return nir.Affine(weight=rng.normal(0, 1, (rows, cols)), bias=rng.normal(0, 1, rows))


def test_folded_parameters():
    """r into the weights, v_leak into the bias, CubaLIF with τ_syn = dt and its w_in, per-neuron thresholds."""
    dt = 1e-4
    r, v_leak, thr = np.array([2.0, 0.5, 1.0]), np.array([0.1, 0.0, -0.2]), np.array([1.0, 2.0, 0.5])
    g = chain(affine(3, 2), lif(r=r, v_leak=v_leak, v_threshold=thr), affine(2, 3, 1))
    spec = import_nir(g, dt=dt)
    w, b = g.nodes["n0"].weight, g.nodes["n0"].bias
    assert spec.constants["threshold"] == 1.0
    np.testing.assert_allclose(spec.layers[0].w_in, w * (r / thr)[:, None])
    np.testing.assert_allclose(spec.layers[0].bias, (b * r + v_leak) / thr)
    np.testing.assert_allclose(spec.layers[0].params["alpha"], 1 - dt / 1e-3)
    cuba = nir.CubaLIF(tau_syn=np.full(3, dt), tau_mem=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3),
                       v_threshold=np.ones(3), w_in=np.array([2.0, 1.0, 3.0]))
    spec = import_nir(chain(affine(3, 2), cuba, affine(2, 3, 1)), dt=dt)
    np.testing.assert_allclose(spec.layers[0].w_in, g.nodes["n0"].weight * np.array([2.0, 1.0, 3.0])[:, None])


def test_nested_subgraph_is_spliced():
    """Older snnTorch files wrap the recurrent layer in a subgraph: the same network as the flat graph."""
    rec = nir.Linear(weight=np.random.default_rng(5).normal(0, 1, (3, 3)))
    flat = import_nir(chain(affine(3, 2), lif(), affine(2, 3, 1), loop=(1, rec)))
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "lif": lif(), "w_rec": rec,
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                         type_check=False)
    nested = import_nir(chain(affine(3, 2), inner, affine(2, 3, 1)))
    np.testing.assert_array_equal(nested.layers[0].w_rec, flat.layers[0].w_rec)
    np.testing.assert_array_equal(nested.layers[0].w_in, flat.layers[0].w_in)


@pytest.mark.parametrize("graph,match", [
    (lambda: chain(affine(3, 2), nir.IF(r=np.ones(3), v_threshold=np.ones(3)), affine(2, 3)), r"'n1' \(IF\).*leak"),
    (lambda: chain(affine(3, 2), lif(), affine(2, 3), nir.I(r=np.ones(2))), r"'n3' \(I\).*integrator"),
    (lambda: chain(affine(3, 2), lif(v_reset=np.full(3, 0.5)), affine(2, 3)), r"'n1' \(LIF\): v_reset"),
    (lambda: chain(affine(3, 2), lif(tau=1e-4), affine(2, 3)), r"'n1' \(LIF\).*outside \(0, 1\)"),
    (lambda: chain(affine(3, 2), nir.CubaLIF(tau_syn=np.full(3, 1e-3), tau_mem=np.full(3, 1e-3), r=np.ones(3),
                                             v_leak=np.zeros(3), v_threshold=np.ones(3)), affine(2, 3)),
     r"'n1' \(CubaLIF\).*synaptic"),
    (lambda: chain(affine(3, 2), lif()), r"ends in spiking neurons, node 'n1' \(LIF\)"),
    (lambda: chain(affine(3, 2), nir.Threshold(threshold=np.ones(3)), affine(2, 3)), r"'n1' \(Threshold\)"),
    (lambda: chain(affine(3, 2), affine(3, 3), lif(), affine(2, 3)),
     r"'n1' \(Affine\) after node 'n0' \(Affine\): two weight nodes"),
    (lambda: chain(affine(3, 2), lif(), affine(3, 3), lif(), affine(2, 3), loop=(1, nir.Linear(weight=np.eye(3)))),
     "some layers are recurrent"),
    (lambda: chain(affine(3, 2), lif(n=4), affine(2, 3)), r"'n1' \(LIF\): tau has shape"),
])
def test_refused_graphs_name_the_node(graph, match):
    with pytest.raises(NirError, match=match):
        import_nir(graph())


@pytest.mark.parametrize("neuron", [m for m in MODELS if m not in ("lif", "lif_zero")])
def test_models_nir_cannot_express_are_refused(neuron):
    spec = NetworkSpec(neuron=neuron, layers=[LayerSpec(
        w_in=np.ones((2, 2)), w_rec=None, bias=np.zeros(2),
        params={p: np.full(2, 0.5) for p in MODELS[neuron].param_names})],
        w_out=np.ones((1, 2)), b_out=np.zeros(1), alpha_out=np.zeros(1))
    with pytest.raises(NirError, match=f"NIR cannot express '{neuron}' neurons: it has no node for"):
        export_nir(spec)


def test_subtract_lif_needs_the_opt_in():
    with pytest.raises(NirError, match="subtracts the threshold.*lif_reset='subtract'"):
        export_nir(hypr_spec("lif"))


def test_without_nir_one_line_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nir", None)
    with pytest.raises(NirError, match=r"pip install 'hypr-edge\[interop\]'"):
        export_nir(hypr_spec())


# ---------------------------------------------------------------- the commands


def test_import_and_export_commands(tmp_path, capsys):
    net, lif_ = snntorch_rleaky_net("zero")
    nir_path = snntorch_to_nir_file(net, 4, tmp_path / "snn.nir")
    assert cli_main(["import", str(nir_path), "-o", str(tmp_path / "m.onnx")]) == 0
    assert "lif_zero 4-10-3 (recurrent, memoryless readout" in capsys.readouterr().out
    spec = load_onnx(tmp_path / "m.onnx")
    x = inputs(4, seed=9)
    assert np.array_equal(float_run(spec, x)[1], snntorch_run(net, lif_, x)[1])
    assert cli_main(["export", str(tmp_path / "m.onnx"), "--nir", str(tmp_path / "back.nir")]) == 0
    back = import_nir(tmp_path / "back.nir")
    np.testing.assert_allclose(back.layers[0].w_rec, spec.layers[0].w_rec, rtol=1e-6)


@pytest.mark.parametrize("argv,match", [
    (["import", "{tmp}/none.nir"], "no such NIR file"),
    (["import", "{tmp}/junk.nir"], "not a readable NIR file"),
    (["import", "{tmp}/snn.nir", "--dt", "1e-2"], r"outside \(0, 1\).*--dt"),
    (["export", "{tmp}/junk.nir", "--nir", "{tmp}/x.nir"], "not an ONNX model"),
    (["export", "{tmp}/alif.onnx", "--nir", "{tmp}/x.nir"], "NIR cannot express 'alif'"),
])
def test_commands_answer_bad_input_with_one_line(tmp_path, capsys, argv, match):
    (tmp_path / "junk.nir").write_bytes(b"not hdf5 at all")
    write_nir(export_nir(hypr_spec()), tmp_path / "snn.nir")
    alif = NetworkSpec(neuron="alif", layers=[LayerSpec(np.ones((2, 2)), None, np.zeros(2),
                                                        {"alpha": np.full(2, 0.9), "rho": np.full(2, 0.9)})],
                       w_out=np.ones((1, 2)), b_out=np.zeros(1), alpha_out=np.zeros(1))
    export_onnx(alif, tmp_path / "alif.onnx")
    assert cli_main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err
