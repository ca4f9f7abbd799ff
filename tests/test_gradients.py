"""The checks of HYPR.md section 6, in float64, for every neuron model."""
import json
import subprocess
import sys

import pytest
import torch
from torch.func import jacrev, vmap

from hypr_edge import build_model, gradients
from hypr_edge.neurons import NEURONS, make_neuron, model_class


def drive(neuron):
    """Input scale so that every layer of a random network of this model spikes at a healthy rate (BRF, for one,
    integrates with delta = 0.01 and needs far larger currents than LIF)."""
    return model_class(neuron).drive


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def make_case(neuron, hidden=(7,), steps=30, alpha_out=0.8, recurrent=True, seed=0):
    torch.manual_seed(seed)
    model = build_model(neuron, n_inputs=5, hidden=list(hidden), n_outputs=3, recurrent=recurrent,
                        alpha_out=alpha_out, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers[1:]:
            layer.w_in.mul_(5.0 * drive(neuron))
            layer.bias.fill_(0.9)
    x = (torch.randn(4, steps, 5, dtype=torch.float64) + 0.5) * 5.0 * drive(neuron)
    y = torch.tensor([0, 1, 2, 1])
    _, spikes = model(x, return_spikes=True)
    for z in spikes:  # a case without spikes would make the comparisons vacuous
        assert 0.01 < z.mean().item() < 0.6, f"spike rate {z.mean().item():.3f} out of range"
    return model, x, y


def assert_all_close(got, want, tol):
    assert got.keys() == want.keys()
    for name in want:
        assert want[name].norm() > 0, f"{name}: reference gradient is zero, the check would be vacuous"
        assert rel(got[name], want[name]) <= tol, f"{name}: relative error {rel(got[name], want[name]):.2e}"


@pytest.mark.parametrize("neuron", NEURONS)
def test_local_derivatives_match_torch_func(neuron):
    """A = df/ds_prev, c = df/dI, D = df/dtheta_raw and g = psi(h) dh/ds: the model's analytic terms against the
    Jacobians torch.func.jacrev takes of its step f and spike H(h(s)) (surrogate included), neuron by neuron."""
    torch.manual_seed(1)
    nrn = make_neuron(neuron)
    batch, n = 3, 6
    layer = build_model(neuron, n_inputs=2, hidden=[n], n_outputs=2, dtype=torch.float64).layers[0]
    theta = {k: v.detach().clone() for k, v in layer.theta.items()}
    # States straddling the threshold so that both spike branches and the surrogate's slope are exercised: u (whose
    # slope in h is 1 in every model) moved so that h ~ N(0, 0.6).
    s_prev = 1.0 + 0.6 * torch.randn(batch, n, nrn.d, dtype=torch.float64)
    s_prev[..., 0] += 0.6 * torch.randn(batch, n, dtype=torch.float64) - nrn.h(s_prev)
    current = torch.randn(batch, n, dtype=torch.float64)
    assert 0.2 < nrn.spike(s_prev).mean() < 0.8, "both spike branches"
    A, c, D = nrn.local(s_prev, current, theta)

    def per_neuron(f):  # f of one neuron's s (d,), I () and theta {name: ()}, mapped over (batch, neuron)
        return vmap(vmap(f, in_dims=(0, 0, 0)), in_dims=(0, 0, None))
    jac_s, jac_i, jac_p = per_neuron(jacrev(nrn.step, argnums=(0, 1, 2)))(s_prev, current, theta)
    assert torch.allclose(jac_s, A, atol=1e-12)
    assert torch.allclose(jac_i, c, atol=1e-12)
    for k, name in enumerate(nrn.param_names):
        assert torch.allclose(jac_p[name], D[:, :, k, :], atol=1e-12), name
    jac_g = vmap(vmap(jacrev(nrn.spike)))(s_prev)
    assert torch.allclose(jac_g, nrn.g(s_prev), atol=1e-12)
    assert A.abs().sum() > 0 and nrn.g(s_prev).abs().sum() > 0 and all(D[:, :, k].abs().sum() > 0
                                                                       for k in range(len(nrn.param_names)))


@pytest.mark.parametrize("neuron", NEURONS)
def test_hypr_equals_forward_rule(neuron):
    model, x, y = make_case(neuron, hidden=(7, 6))
    assert_all_close(gradients(model, x, y, method="hypr", chunk=7),
                     gradients(model, x, y, method="forward"), 1e-10)


@pytest.mark.parametrize("neuron", NEURONS)
def test_hypr_invariant_in_chunk_length(neuron):
    model, x, y = make_case(neuron, steps=30)  # 30 is no multiple of 7 or 4: a last partial chunk
    ref = gradients(model, x, y, method="hypr", chunk=30)
    for chunk in (1, 4, 7, 10):
        assert_all_close(gradients(model, x, y, method="hypr", chunk=chunk), ref, 1e-10)


@pytest.mark.parametrize("neuron", NEURONS)
def test_hypr_equals_bptt_without_recurrence(neuron):
    """One layer, W_rec = 0, memoryless readout: nothing is approximated, HYPR must equal BPTT."""
    model, x, y = make_case(neuron, alpha_out=0.0)
    with torch.no_grad():
        model.layers[0].w_rec.zero_()
    loss_b, bptt = gradients(model, x, y, method="bptt", return_loss=True)
    loss_h, hypr = gradients(model, x, y, method="hypr", chunk=8, return_loss=True)
    assert abs(loss_b - loss_h) <= 1e-12 * abs(loss_b)
    assert_all_close(hypr, bptt, 1e-8)


def test_hypr_approximates_bptt_with_recurrence():
    """With recurrence and a leaky readout HYPR drops cross-neuron terms: close to, not equal to, BPTT."""
    model, x, y = make_case("brf", hidden=(16,), steps=60, alpha_out=0.9)
    bptt = gradients(model, x, y, method="bptt")
    hypr = gradients(model, x, y, method="hypr", chunk=16)
    flat = [torch.cat([g[k].flatten() for k in bptt]) for g in (bptt, hypr)]
    cos = torch.nn.functional.cosine_similarity(flat[0], flat[1], dim=0).item()
    assert 0.5 < cos < 1 - 1e-6
    assert rel(hypr["readout.w_out"], bptt["readout.w_out"]) < 1e-10  # the readout's gradient stays exact


def test_loss_on_last_steps_only():
    model, x, y = make_case("lif")
    full = gradients(model, x, y, method="hypr", chunk=5)
    last = gradients(model, x, y, method="hypr", chunk=5, loss_steps=4)
    assert_all_close(last, gradients(model, x, y, method="forward", loss_steps=4), 1e-10)
    assert rel(last["layers.0.w_in"], full["layers.0.w_in"]) > 1e-3


def test_on_chunk_sees_each_chunk():
    """The public per-chunk hook: called once per chunk; zeroing the gradient there leaves each chunk's share,
    and those shares add up to the whole gradient (weights unchanged)."""
    model, x, y = make_case("brf")
    whole = gradients(model, x, y, method="hypr", chunk=7)
    shares = []

    def take(grads):
        shares.append({k: v.clone() for k, v in grads.items()})
        for v in grads.values():
            v.zero_()
    rest = gradients(model, x, y, method="hypr", chunk=7, on_chunk=take)
    assert len(shares) == 5 and all(v.abs().max() == 0 for v in rest.values())  # 30 steps: chunks of 7, 7, 7, 7, 2
    assert_all_close({k: sum(s[k] for s in shares) for k in whole}, whole, 1e-12)


def test_bad_arguments_are_clear():
    model, x, y = make_case("lif")
    with pytest.raises(ValueError, match="unknown gradient method"):
        gradients(model, x, y, method="rtrl")
    with pytest.raises(ValueError, match="inputs must have shape"):
        gradients(model, x[..., :2], y)
    with pytest.raises(ValueError, match="chunk length"):
        gradients(model, x, y, chunk=0)
    with pytest.raises(ValueError, match="loss_steps"):
        gradients(model, x, y, loss_steps=1000)
    with pytest.raises(ValueError, match="on_chunk"):
        gradients(model, x, y, method="bptt", on_chunk=print)


_PEAK = """
import json, sys, torch
from hypr_edge import build_model, gradients
from hypr_edge.peak_memory import peak_growth_bytes
torch.set_num_threads(1)
method, steps = sys.argv[1], int(sys.argv[2])
model = build_model("brf", n_inputs=8, hidden=[64], n_outputs=4, seed=0)
def inputs(t):
    return torch.randn(16, t, 8, dtype=torch.float64) * 40, torch.zeros(16, dtype=torch.long)
def run(x, y):
    gradients(model, x, y, method=method, chunk=32)
run(*inputs(64))  # warm up allocator arenas and lazy imports before the baseline
x, y = inputs(steps)  # the inputs exist before the measurement: only the gradient's own memory counts
print(json.dumps(peak_growth_bytes(lambda: run(x, y))))
"""


def _peak_growth(method, steps):
    out = subprocess.run([sys.executable, "-c", _PEAK, method, str(steps)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_hypr_memory_does_not_grow_with_sequence_length():
    """Peak resident memory above a warmed-up baseline, each run in a fresh process."""
    hypr_short, hypr_long = _peak_growth("hypr", 500), _peak_growth("hypr", 2000)
    bptt_short, bptt_long = _peak_growth("bptt", 500), _peak_growth("bptt", 2000)
    # BPTT's graph grows with T: proof that the measurement sees memory that depends on T.
    assert bptt_long > 2.5 * bptt_short and bptt_long - bptt_short > 50e6
    # HYPR: same peak within 10 % of the short run's (or of 4 MB allocator noise).
    assert hypr_long <= 1.1 * hypr_short + 4e6, (hypr_short, hypr_long)
