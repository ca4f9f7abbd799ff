"""Neuron models LIF, ALIF and BRF (HYPR.md section 2) and their local derivatives (section 3).

Every model works on a state tensor s of shape (B, N, d) and provides:
  step(s_prev, I, p)        -> s_t          f: includes the spike z_{t-1} = H(h(s_prev)) with its surrogate
  h(s)                      -> (B, N)       spike pre-activation; z = H(h(s)), H(0) = 0
  dh_ds(s)                  -> (B, N, d)
  local_terms(s_prev, I, p) -> A, c, D      A = df/ds_prev, c = df/dI, D = df/dtheta_raw as flat row-major lists of
                                            d*d, d and P*d terms (tensors or numbers broadcasting to (B, N)); the
                                            base class's `local` stacks them to (B,N,d,d), (B,N,d), (B,N,P,d)
The base class adds spike(s), g(s) = psi(h(s)) dh/ds and local(s_prev, I, p).
`p` holds the raw trainable tensors (N,) by name; `effective(p)` maps them to the physical values kept in a
NetworkSpec, and `raw_from_effective` inverts that. The analytic derivatives are checked against autograd in tests.
"""
from __future__ import annotations

import math

import torch

from .network_spec import DEFAULT_CONSTANTS, PARAM_NAMES, STATE_NAMES

# ---------------------------------------------------------------- surrogates


def double_gaussian(x: torch.Tensor) -> torch.Tensor:
    """psi(x) = 0.5 [1.15 N(x; 0, 0.5) - 0.30 N(x; 0, 3)]: BRF's surrogate."""
    def half_normal(weight, sigma):  # 0.5 weight N(x; 0, sigma), with x^2 shared
        return torch.exp(x2 * (-0.5 / sigma ** 2)) * (0.5 * weight / (math.sqrt(2 * math.pi) * sigma))
    x2 = x * x
    return half_normal(1.15, 0.5) - half_normal(0.30, 3.0)


def slayer(x: torch.Tensor, alpha: float = 5.0, scale: float = 0.3) -> torch.Tensor:
    """psi(x) = c (alpha / 2) exp(-alpha |x|): LIF's and ALIF's surrogate."""
    return scale * 0.5 * alpha * torch.exp(-alpha * x.abs())


class _Spike(torch.autograd.Function):
    """Heaviside forward (H(0) = 0), surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x, psi):
        ctx.save_for_backward(x)
        ctx.psi = psi
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.psi(x), None


# ---------------------------------------------------------------- models


class Neuron:
    name: str
    psi = staticmethod(slayer)

    def __init__(self, constants: dict[str, float] | None = None):
        self.k = dict(DEFAULT_CONSTANTS[self.name])
        self.k.update(constants or {})

    @property
    def d(self) -> int:
        return len(STATE_NAMES[self.name])

    @property
    def param_names(self) -> tuple[str, ...]:
        return PARAM_NAMES[self.name]

    def spike(self, s: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # no graph: skip the autograd Function's overhead
            return (self.h(s) > 0).to(s.dtype)
        return _Spike.apply(self.h(s), self.psi)

    def g(self, s: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """psi(h(s)) dh/ds, its d components at `dim` (see `local`)."""
        return self.psi(self.h(s)).unsqueeze(dim) * self.dh_ds(s).movedim(-1, dim)

    def local(self, s_prev: torch.Tensor, current: torch.Tensor, p: dict, dim: int = -1):
        """A = df/ds_prev, c = df/dI, D = df/dtheta_raw from `local_terms`, their components stacked at `dim`: last by
        default, A (B, N, d, d), c (B, N, d), D (B, N, P, d). HYPR passes dim=1 for a chunk of steps (T, B, N, d) to
        get its neurons-last layout A (T, d, d, B, N), c (T, d, B, N), D (T, P, d, B, N) in one copy per tensor."""
        shape = s_prev.shape[:-1]
        A, c, D = self.local_terms(s_prev, current, p)

        def stack(terms, *rows):
            out = torch.stack([torch.as_tensor(t, dtype=s_prev.dtype).expand(shape) for t in terms], dim)
            return out.unflatten(dim, rows) if rows else out
        return stack(A, self.d, self.d), stack(c), stack(D, len(self.param_names), self.d)


def _sigmoid_and_slope(raw: torch.Tensor):
    y = torch.sigmoid(raw)
    return y, y * (1 - y)


def _logit(y):
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.log(y) - torch.log1p(-y)


class LIF(Neuron):
    """s = (u,): u_t = alpha u_{t-1} + (1 - alpha) I_t - threshold z_{t-1}; alpha = sigmoid(raw)."""
    name = "lif"

    def h(self, s):
        return s[..., 0] - self.k["threshold"]

    def dh_ds(self, s):
        return torch.ones_like(s)

    def effective(self, p):
        return {"alpha": torch.sigmoid(p["alpha"])}

    def raw_from_effective(self, e):
        return {"alpha": _logit(e["alpha"])}

    def init_raw(self, n, gen, dtype):
        tau = 5.0 + 20.0 * torch.rand(n, generator=gen, dtype=dtype)  # membrane time constants 5..25 steps
        return {"alpha": _logit(torch.exp(-1.0 / tau)).to(dtype)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha = torch.sigmoid(p["alpha"])
        u = alpha * s_prev[..., 0] + (1 - alpha) * current - self.k["threshold"] * z_prev
        return u.unsqueeze(-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = _sigmoid_and_slope(p["alpha"])
        u_prev = s_prev[..., 0]
        psi_prev = self.psi(self.h(s_prev))
        return [alpha - self.k["threshold"] * psi_prev], [1 - alpha], [(u_prev - current) * dalpha]


class ALIF(Neuron):
    """s = (u, a): adaptive threshold A = b0 + beta_a a; alpha, rho = sigmoid(raw)."""
    name = "alif"

    def threshold(self, s):
        return self.k["b0"] + self.k["beta_a"] * s[..., 1]

    def h(self, s):
        return s[..., 0] - self.threshold(s)

    def dh_ds(self, s):
        out = torch.ones_like(s)
        out[..., 1] = -self.k["beta_a"]
        return out

    def effective(self, p):
        return {"alpha": torch.sigmoid(p["alpha"]), "rho": torch.sigmoid(p["rho"])}

    def raw_from_effective(self, e):
        return {"alpha": _logit(e["alpha"]), "rho": _logit(e["rho"])}

    def init_raw(self, n, gen, dtype):
        tau = 5.0 + 20.0 * torch.rand(n, generator=gen, dtype=dtype)
        tau_a = 50.0 + 150.0 * torch.rand(n, generator=gen, dtype=dtype)  # adaptation 50..200 steps
        return {"alpha": _logit(torch.exp(-1.0 / tau)).to(dtype), "rho": _logit(torch.exp(-1.0 / tau_a)).to(dtype)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha, rho = torch.sigmoid(p["alpha"]), torch.sigmoid(p["rho"])
        u_prev, a_prev = s_prev[..., 0], s_prev[..., 1]
        a = rho * a_prev + (1 - rho) * z_prev
        u = alpha * u_prev + (1 - alpha) * current - self.threshold(s_prev) * z_prev
        return torch.stack((u, a), dim=-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = _sigmoid_and_slope(p["alpha"])
        rho, drho = _sigmoid_and_slope(p["rho"])
        beta_a = self.k["beta_a"]
        u_prev, a_prev = s_prev[..., 0], s_prev[..., 1]
        thr_prev = self.threshold(s_prev)
        psi_prev = self.psi(u_prev - thr_prev)
        z_prev = (u_prev - thr_prev > 0).to(u_prev.dtype)
        A = [alpha - thr_prev * psi_prev, -beta_a * z_prev + beta_a * thr_prev * psi_prev,
             (1 - rho) * psi_prev, rho - (1 - rho) * beta_a * psi_prev]
        return A, [1 - alpha, 0.0], [(u_prev - current) * dalpha, 0.0, 0.0, (a_prev - z_prev) * drho]


class BRF(Neuron):
    """Balanced resonate-and-fire, s = (u, v, r); omega = |raw|, b' = |raw| (HYPR.md section 2)."""
    name = "brf"
    psi = staticmethod(double_gaussian)

    def h(self, s):
        return s[..., 0] - self.k["threshold"] - s[..., 2]

    def dh_ds(self, s):
        out = torch.zeros_like(s)
        out[..., 0] = 1.0
        out[..., 2] = -1.0
        return out

    def p_omega(self, omega):
        delta = self.k["delta"]
        return (-1.0 + torch.sqrt(1.0 - (delta * omega) ** 2)) / delta

    def effective(self, p):
        return {"omega": p["omega"].abs(), "b_offset": p["b_offset"].abs()}

    def raw_from_effective(self, e):
        return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in e.items()}

    def init_raw(self, n, gen, dtype, omega=(5.0, 10.0), b_offset=(2.0, 3.0)):
        def uniform(lo, hi):
            return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dtype)
        return {"omega": uniform(*omega), "b_offset": uniform(*b_offset)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        delta, omega, b = self.k["delta"], p["omega"].abs(), p["b_offset"].abs()
        u_prev, v_prev, r_prev = s_prev.unbind(-1)
        q = self.k["gamma"] * r_prev + z_prev
        beta = self.p_omega(omega) - b - q
        u = u_prev + delta * (beta * u_prev - omega * v_prev + current)
        v = v_prev + delta * (omega * u_prev + beta * v_prev)
        return torch.stack((u, v, q), dim=-1)

    def local_terms(self, s_prev, current, p):
        delta, gamma = self.k["delta"], self.k["gamma"]
        omega, b = p["omega"].abs(), p["b_offset"].abs()
        u_prev, v_prev, r_prev = s_prev.unbind(-1)
        h_prev = self.h(s_prev)
        psi_prev = self.psi(h_prev)
        q = gamma * r_prev + (h_prev > 0).to(u_prev.dtype)
        diag = 1 + delta * (self.p_omega(omega) - b - q)  # 1 + delta beta
        du, dv = delta * u_prev, delta * v_prev
        dq_dr = gamma - psi_prev
        A = [diag - du * psi_prev, -delta * omega, -du * dq_dr,
             delta * omega - dv * psi_prev, diag, -dv * dq_dr,
             psi_prev, 0.0, dq_dr]
        dp = -delta * omega / torch.sqrt(1.0 - (delta * omega) ** 2)  # d p(omega) / d omega
        s_om, s_b = torch.sign(p["omega"]), torch.sign(p["b_offset"])
        D = [(du * dp - dv) * s_om, (du + dv * dp) * s_om, 0.0, -du * s_b, -dv * s_b, 0.0]
        return A, [delta, 0.0, 0.0], D


MODELS: dict[str, type[Neuron]] = {cls.name: cls for cls in (LIF, ALIF, BRF)}


def make_neuron(name: str, constants: dict[str, float] | None = None) -> Neuron:
    try:
        return MODELS[name](constants)
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; expected one of {', '.join(MODELS)}") from None
