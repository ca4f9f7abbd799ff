"""What a neuron model provides (HYPR.md sections 2-3, docs/fixed-point.md §4 and §9.2-9.3): the base class
`Neuron`, the surrogates, and the fixed-point constant descriptions. One model = one subclass in its own module,
listed in the registry (`hypr_edge/neurons/__init__.py`); nothing outside a model's module knows its equations.

A model holds:
  names, defaults   name, state_names (d of them), param_names (theta, effective values), default_constants,
                    surrogate
  float (torch)     h(s), dh_ds(s), step(s_prev, I, p[, z_prev]) = f, local_terms(s_prev, I, p) = A, c, D,
                    effective(p) / raw_from_effective(e), init_raw(n, gen, dtype, **ranges),
                    domain_error(p) / project_(p) (parameters training must keep in range)
  ONNX              onnx_step(g, prefix, state, current_of): f and z_t as graph nodes (hypr_edge/onnx_io.py)
  fixed point       fixed_consts (per-neuron Q.24 constants, C order, ranges), fixed_scalars, fixed_check(params),
                    fixed_values(params), from_fixed(k, sc); the integer twins of the C kernel: int_h, int_step,
                    int_jacobian, int_g, int_input_gain (NumPy int64, docs/fixed-point.md §4, §9.2, §9.3)
  tooling           random_params (random test networks), drive (input scale of test networks), current_std and
                    spike_gain (initial drive in training), band_init (a task's frequency band -> init ranges)

Float state tensors are (B, N, d); `p` holds the raw trainable tensors (N,) by name, `effective(p)` maps them to the
physical values a NetworkSpec keeps. The analytic derivatives are checked against torch.func in the tests.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..fixed.spec import A_MAX, FA, I32_MAX


class _Torch:
    """`torch`, imported on first use: the NumPy-only stages (quantizer, emulator, code generation) read the
    neuron models without paying torch's import time (seconds). Attributes are cached after the first lookup."""

    def __getattr__(self, name):
        import torch as module
        value = getattr(module, name)
        setattr(self, name, value)
        return value


torch = _Torch()

# ---------------------------------------------------------------- surrogates


def double_gaussian(x):
    """psi(x) = 0.5 [1.15 N(x; 0, 0.5) - 0.30 N(x; 0, 3)]: BRF's surrogate."""
    def half_normal(weight, sigma):  # 0.5 weight N(x; 0, sigma), with x^2 shared
        return torch.exp(x2 * (-0.5 / sigma ** 2)) * (0.5 * weight / (math.sqrt(2 * math.pi) * sigma))
    x2 = x * x
    return half_normal(1.15, 0.5) - half_normal(0.30, 3.0)


def _double_gaussian_np(x: np.ndarray) -> np.ndarray:
    def normal(x, sigma):
        return np.exp(-0.5 * (x / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    return 0.5 * (1.15 * normal(x, 0.5) - 0.30 * normal(x, 3.0))


def slayer(x, alpha: float = 5.0, scale: float = 0.3):
    """psi(x) = c (alpha / 2) exp(-alpha |x|), alpha = 5, c = 0.3."""
    return scale * 0.5 * alpha * torch.exp(-alpha * x.abs())


def _slayer_np(x: np.ndarray) -> np.ndarray:
    return 0.3 * 0.5 * 5.0 * np.exp(-5.0 * np.abs(x))


@dataclass(frozen=True)
class Surrogate:
    """psi, the stand-in for H' (HYPR.md section 2). `torch_fn` serves training; `numpy_fn` (the same function,
    float64) fills the device's lookup table once, which covers |h| < 2^range_log2 (docs/fixed-point.md §6.1)."""
    name: str
    torch_fn: Callable
    numpy_fn: Callable[[np.ndarray], np.ndarray]
    range_log2: int

    def __call__(self, x):
        return self.torch_fn(x)


SLAYER = Surrogate("slayer", slayer, _slayer_np, 2)
DOUBLE_GAUSSIAN = Surrogate("double_gaussian", double_gaussian, _double_gaussian_np, 4)


@cache
def _spike_functions():
    """Heaviside forward (H(0) = 0), surrogate derivative backward, in two forms (built on first use: torch is
    lazy). The classic one serves training; torch.func transforms (the derivative tests use jacrev) need the form
    with setup_context, which autograd calls more slowly (it binds the arguments by signature on every call)."""
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.psi(x), None

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, psi):
            ctx.save_for_backward(x)
            ctx.psi = psi
            return (x > 0).to(x.dtype)

    class FuncSpike(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x, psi):
            return (x > 0).to(x.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, ctx.psi = inputs
            ctx.save_for_backward(x)

    Spike.backward = FuncSpike.backward = staticmethod(backward)
    return Spike, FuncSpike


# ---------------------------------------------------------------- fixed-point constant descriptions

ONE = 1 << FA
#: range of a per-neuron Q.24 constant in [0, 1] (decays, 1 - decays, delta)
UNIT = (0, ONE)
#: range of a signed Q.24 constant below A_MAX in magnitude (|value| < 16)
SIGNED = (-A_MAX, A_MAX)
#: range of a non-negative Q.24 constant below A_MAX
POSITIVE = (0, A_MAX)


@dataclass(frozen=True)
class Scalar:
    """A model-wide fixed-point constant: format "fs" (a state value, Q.fs: thresholds) or "fa" (Q.24), range."""
    fmt: str
    lo: int
    hi: int


#: a threshold-like scalar: a state value in Q.fs, any int32
STATE_SCALAR = Scalar("fs", -(1 << 31), I32_MAX)


@dataclass(frozen=True)
class FixedConstants:
    """What the integer kernels read: per-neuron constants k (int64 arrays (N,)), scalars sc, the state format fs."""
    k: dict
    sc: dict
    fs: int


# ---------------------------------------------------------------- the base class


class Neuron:
    name: str
    state_names: tuple[str, ...]
    param_names: tuple[str, ...]
    default_constants: dict[str, float]
    surrogate: Surrogate = SLAYER
    fixed_consts: dict[str, tuple[int, int]]    # per-neuron Q.24 constants, in the order the C declares them
    fixed_scalars: dict[str, Scalar]
    drive: float = 1.0          # input scale at which random test networks spike like LIF's at 1 (tests, benches)
    current_std: float = 2.0    # training: std of the first layer's initial input current on the data
    spike_gain: float = 1.0     # training: scale of the initial spike-driven weights (recurrent, deeper layers)

    def __init__(self, constants: dict[str, float] | None = None):
        self.k = dict(self.default_constants)
        self.k.update(constants or {})

    @property
    def d(self) -> int:
        return len(self.state_names)

    # ---- float (torch)
    @property
    def psi(self):
        """The surrogate's torch function, psi(x)."""
        return self.surrogate.torch_fn

    def spike(self, s):
        if not torch.is_grad_enabled():  # no graph: skip the autograd Function's overhead
            return (self.h(s) > 0).to(s.dtype)
        spike, func_spike = _spike_functions()
        return (func_spike if torch._C._are_functorch_transforms_active() else spike).apply(self.h(s), self.psi)

    def g(self, s, dim: int = -1):
        """psi(h(s)) dh/ds, its d components at `dim` (see `local`)."""
        return self.psi(self.h(s)).unsqueeze(dim) * self.dh_ds(s).movedim(-1, dim)

    def local(self, s_prev, current, p: dict, dim: int = -1):
        """A = df/ds_prev, c = df/dI, D = df/dtheta_raw from `local_terms`, their components stacked at `dim`: last by
        default, A (B, N, d, d), c (B, N, d), D (B, N, P, d). HYPR passes dim=1 for a chunk of steps (T, B, N, d) to
        get its neurons-last layout A (T, d, d, B, N), c (T, d, B, N), D (T, P, d, B, N) in one copy per tensor."""
        shape = s_prev.shape[:-1]
        A, c, D = self.local_terms(s_prev, current, p)

        def stack(terms, *rows):
            out = torch.stack([torch.as_tensor(t, dtype=s_prev.dtype, device=s_prev.device).expand(shape)
                               for t in terms], dim)
            return out.unflatten(dim, rows) if rows else out
        return stack(A, self.d, self.d), stack(c), stack(D, len(self.param_names), self.d)

    def h(self, s):
        """Spike pre-activation (B, N); z = H(h(s)), H(0) = 0."""
        raise NotImplementedError

    def dh_ds(self, s):
        raise NotImplementedError

    def step(self, s_prev, current, p, z_prev=None):
        """f: s_t from s_{t-1} and I_t, with z_{t-1} = H(h(s_{t-1})) (its surrogate gradient included)."""
        raise NotImplementedError

    def local_terms(self, s_prev, current, p):
        """A, c, D as flat row-major lists of d*d, d and P*d terms (tensors or numbers broadcasting to (B, N))."""
        raise NotImplementedError

    def effective(self, p: dict) -> dict:
        raise NotImplementedError

    def domain_error(self, p: dict) -> str | None:
        """Why the raw parameters p lie outside the model's domain (one line), or None. Non-finite values are
        refused for every model by gradients(); a model adds its own limits here."""
        return None

    def project_(self, p: dict) -> None:
        """Move raw parameters p back into the model's domain, in place (training calls it after each optimizer
        step); a no-op for models whose every finite raw value is valid."""

    def raw_from_effective(self, e: dict) -> dict:
        raise NotImplementedError

    def init_raw(self, n: int, gen, dtype, **ranges) -> dict:
        raise NotImplementedError

    def band_init(self, band: tuple[float, float] | None) -> dict:
        """init_raw ranges that suit a task's frequency band (cycles per step); most models have none."""
        return {}

    def memory_init(self, memory: int | None) -> dict:
        """init_raw ranges that hold a state for `memory` steps without input, if a task needs that; default none."""
        return {}

    # ---- ONNX
    def onnx_step(self, g, prefix: str, state: dict[str, str], current_of) -> dict[str, str]:
        """f and z_t as graph nodes: `g` is onnx_io's graph builder (op, const, heaviside), `prefix` names the
        layer's initializers (`layers.i.`), `state` the incoming state tensors by state name, `current_of(z_prev)`
        builds I_t. Returns the new state tensors by name and the spikes as "z"."""
        raise NotImplementedError

    # ---- fixed point (docs/fixed-point.md §4)
    def fixed_check(self, params: dict) -> None:
        """Raise ValueError (one line) for parameters or constants the fixed-point form cannot take."""

    def fixed_values(self, params: dict) -> tuple[dict, dict]:
        """The real values of fixed_consts (arrays (N,)) and fixed_scalars, rounded by the quantizer."""
        raise NotImplementedError

    def from_fixed(self, k: dict, sc: dict) -> tuple[dict, dict]:
        """Inverse of fixed_values on the dequantized constants: (effective params, constants)."""
        raise NotImplementedError

    def int_h(self, fx: FixedConstants, s):
        """h(s) in Q.fs, int64, for states s (..., d) in Q.fs."""
        raise NotImplementedError

    def int_step(self, fx: FixedConstants, s, z, cur):
        """s_t (..., d) from s_{t-1}, z = z_{t-1} (0/1) and the current I_t (Q.fs)."""
        raise NotImplementedError

    def int_jacobian(self, fx: FixedConstants, s, hp, psi):
        """A_t (..., d, d) in Q.24 from s_{t-1}, hp = h(s_{t-1}), psi = psi_eval(hp); the caller saturates."""
        raise NotImplementedError

    def int_g(self, fx: FixedConstants, psi):
        """g_t (..., d) in Q.24 from psi = psi_eval(h(s_t))."""
        raise NotImplementedError

    def int_input_gain(self, fx: FixedConstants):
        """c0 (N,) in Q.24: df/dI = (c0, 0, ...), constant per neuron; the device's chunk update relies on it."""
        raise NotImplementedError

    # ---- tooling
    def random_params(self, rng: np.random.Generator, n: int) -> dict:
        """Effective parameters of a random test network, in the model's usual ranges."""
        raise NotImplementedError


# ---------------------------------------------------------------- helpers of the models


def sigmoid_and_slope(raw):
    y = torch.sigmoid(raw)
    return y, y * (1 - y)


def logit(y):
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.log(y) - torch.log1p(-y)


def check_decays(model: str, params: dict, names) -> None:
    for name in names:
        if np.any(params[name] <= 0) or np.any(params[name] >= 1):
            raise ValueError(f"{model} decay {name} must lie in (0, 1)")
