"""Random networks and streams for the property tests and benchmarks (host side)."""
from __future__ import annotations

import math

import numpy as np

from ..network_spec import LayerSpec, NetworkSpec
from ..neurons import make_neuron
from .qmodel import QuantizedModel
from .quantize import quantize
from .spec import FA


def random_spec(rng: np.random.Generator, neuron: str, n_in: int, n: int, n_out: int, recurrent: bool,
                weight_scale: float = 1.0) -> NetworkSpec:
    b = math.sqrt(6.0 / (n_in + n)) * weight_scale
    u = lambda lo, hi, *shape: rng.uniform(lo, hi, shape)
    params = make_neuron(neuron).random_params(rng, n)
    layer = LayerSpec(w_in=u(-b, b, n, n_in), w_rec=u(-b, b, n, n) if recurrent else None,
                      bias=u(-0.5, 1.5, n) * weight_scale, params=params)
    return NetworkSpec(neuron=neuron, layers=[layer], w_out=u(-1, 1, n_out, n), b_out=u(-0.2, 0.2, n_out),
                       alpha_out=u(0.0, 0.95, n_out))


def random_qmodel(rng: np.random.Generator, neuron: str, n_in: int, n: int, n_out: int, recurrent: bool,
                  chunk: int, learn: str, extreme: bool = False) -> QuantizedModel:
    """A calibrated quantized model; with `extreme`, weights, constants, formats and learning rate are redrawn
    at the edges of their allowed ranges (docs/fixed-point.md §4, §5) to provoke every saturation."""
    spec = random_spec(rng, neuron, n_in, n, n_out, recurrent, weight_scale=float(rng.choice([0.5, 3.0, 10.0])))
    x = (rng.random((4, 24, n_in)) < 0.3).astype(float)
    qm = quantize(spec, calib_x=x, chunk=chunk, learn=learn, lr=float(rng.choice([2.0 ** -6, 0.05, 1.0])))
    if not extreme:
        return qm
    edge = lambda shape: rng.choice(np.array([-32768, 32767, -1, 0, 1]), shape)
    pick = lambda shape: np.where(rng.random(shape) < 0.5, edge(shape), rng.integers(-32768, 32768, shape))
    qm.w, qm.wo = pick(qm.w.shape), pick(qm.wo.shape)
    model = make_neuron(neuron)
    for name, (lo, hi) in model.fixed_consts.items():
        qm.k[name] = np.where(rng.random(n) < 0.5, rng.choice([lo, hi], n), rng.integers(lo, hi + 1, n))
    one = 1 << FA
    qm.kao = rng.choice([0, one, one - 1, one // 2], n_out)
    qm.kbo = rng.choice([0, one, 1, one // 3], n_out)
    f = qm.formats
    f["fx"] = int(rng.integers(0, 15))
    f["fw"], f["fwo"], f["fe"] = (int(v) for v in rng.integers(0, 16, 3))
    f["fs"] = int(rng.integers(8, min(20, f["fw"] + f["fx"]) + 1)) if f["fw"] + f["fx"] >= 8 else None
    if f["fs"] is None:
        f["fw"], f["fs"] = 15, 8 + int(rng.integers(0, 8))
    for name, sc in model.fixed_scalars.items():
        special = [0, 1 << f["fs"]] if sc.fmt == "fs" else []   # thresholds: also 0 and 1.0
        qm.scalars[name] = int(rng.choice([sc.lo, sc.hi, *special, rng.integers(sc.lo, sc.hi + 1)]))
    qm.lr_mant = int(rng.choice([1, 32767, int(rng.integers(0, 32768))]))
    qm.lr_shift = int(rng.integers(0, 30))
    qm.check()
    return qm


def random_streams(rng: np.random.Generator, qm: QuantizedModel, k: int, steps: int, learn: bool, extreme: bool):
    """k streams of `steps` quantized inputs (sparse spikes, or int16 edge values) and labels (-1 = no loss)."""
    from ..codegen.verify import Stream
    out = []
    for i in range(k):
        if extreme:
            x = rng.choice(np.array([-32768, 32767, 0, 1, -1]), (steps, qm.n_in))
            x = np.where(rng.random(x.shape) < 0.3, rng.integers(-32768, 32768, x.shape), x)
        else:
            x = qm.quantize_inputs((rng.random((steps, qm.n_in)) < 0.3) * rng.uniform(0.5, 1.0))
        y = rng.integers(-1, qm.n_out, steps)
        out.append(Stream(x.astype(np.int64), y, learn, int(rng.integers(1, 1 << 32))))
    return out
