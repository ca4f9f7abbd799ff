"""The fixed-point HYPR gradient of a stream, dequantized, against float64 HYPR (hypr_edge.gradients) on the same
quantized network (docs/fixed-point.md §10). With learning rate 0 the weights stay put, so the sum of the chunk
gradients over a stream is the gradient of the whole stream, eligibility carries included. Used by
tests/test_fixed_gradient.py and bench/fixed_gradient.py."""
from __future__ import annotations

import numpy as np

from ..neurons import model_class
from .emulator import Emulator
from .quantize import quantize
from .random_models import random_spec
from .spec import FQ


def fixed_vs_float(neuron, recurrent, chunk, steps, seed, n_in=6, n=12, n_out=3, weight_scale=None) -> dict:
    """Cosine similarities (hidden, readout, all) of fixed-point vs float HYPR gradients on a random model."""
    import torch
    from hypr_edge.gradient_methods import gradients
    from hypr_edge.model import model_from_spec
    rng = np.random.default_rng(seed)
    scale = weight_scale or 2.0 * model_class(neuron).drive   # drive: the model's input scale relative to LIF's
    spec = random_spec(rng, neuron, n_in, n, n_out, recurrent, weight_scale=scale)
    x = (rng.random((1, steps, n_in)) < 0.3) * 1.0
    y = int(rng.integers(0, n_out))
    qm = quantize(spec, calib_x=x, chunk=chunk, learn="all", lr=0.0)
    xq = qm.quantize_inputs(x)
    tr = Emulator(qm, batch=1, learn=True).run(xq, np.full((1, steps), y), keep=("spikes",))
    g_h = sum(g["hidden"][0] for g in tr["grads"]) / 2.0 ** FQ
    g_o = sum(g["readout"][0] for g in tr["grads"]) / 2.0 ** FQ
    model = model_from_spec(qm.to_spec(), dtype=torch.float64)
    xf = torch.as_tensor(xq / 2.0 ** qm.formats["fx"])
    ref = gradients(model, xf, torch.tensor([y]), method="hypr", chunk=chunk)
    ref = {k: v.detach().numpy() * steps for k, v in ref.items()}      # the loss there is a mean over steps
    parts = [ref["layers.0.w_in"], ref["layers.0.bias"][:, None]] + ([ref["layers.0.w_rec"]] if recurrent else [])
    r_h = np.concatenate(parts, axis=1)
    r_o = np.concatenate([ref["readout.w_out"], ref["readout.b_out"][:, None]], axis=1)
    cos = lambda a, b: float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))
    a, b = np.concatenate([g_h.ravel(), g_o.ravel()]), np.concatenate([r_h.ravel(), r_o.ravel()])
    return {"hidden": cos(g_h, r_h), "readout": cos(g_o, r_o), "all": cos(a, b),
            "rate": float(np.mean(tr["spikes"])), "hidden_norm": float(np.linalg.norm(r_h))}
