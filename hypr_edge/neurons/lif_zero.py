"""LIF with reset to zero: NIR's LIF, snnTorch's `reset_mechanism="zero"` with `reset_delay=False` and Norse's
LIFBox (docs/interop.md); the fixed-point form is docs/fixed-point.md §4 "LIF, reset to zero"."""
from __future__ import annotations

import numpy as np

from ..fixed.spec import FA, rshift_round, sat32, sat_sym
from .base import A_MAX, ONE, sigmoid_and_slope, torch
from .lif import LIF


class LIFZero(LIF):
    """s = (u,), u the membrane before its reset. With z = z_{t-1} = H(u_{t-1} - threshold), the membrane after the
    reset m = u_{t-1} (1 - z):

        u_t = alpha m + (1 - alpha) I_t,    h = u - threshold,    alpha = sigmoid(raw)

    A spike at t-1 sets the membrane to 0 before step t integrates I_t (the NIR LIF with v_reset = 0 under forward
    Euler, alpha = 1 - dt/tau). A = alpha dm/du_{t-1}, dm/du = (1 - z) - u_{t-1} psi(h_{t-1}) through the reset's
    surrogate; c = 1 - alpha; D = (m - I_t) dalpha."""
    name = "lif_zero"

    # ---- float (h, parameters, initialisation: LIF's)
    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha = torch.sigmoid(p["alpha"])
        u = alpha * (s_prev[..., 0] * (1 - z_prev)) + (1 - alpha) * current
        return u.unsqueeze(-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = sigmoid_and_slope(p["alpha"])
        u_prev = s_prev[..., 0]
        h_prev = self.h(s_prev)
        z = (h_prev > 0).to(u_prev.dtype)
        m = u_prev * (1 - z)
        dm = (1 - z) - u_prev * self.psi(h_prev)
        return [alpha * dm], [1 - alpha], [(m - current) * dalpha]

    # ---- ONNX
    def onnx_step(self, g, prefix, state, current_of):
        c, op = g.const, g.op
        u = state["u"]
        thr = c(self.k["threshold"])
        z_prev = g.heaviside(op("Sub", u, thr))
        alpha = prefix + "alpha"
        m = op("Mul", u, op("Sub", c(1.0), z_prev))
        u_new = op("Add", op("Mul", alpha, m), op("Mul", op("Sub", c(1.0), alpha), current_of(z_prev)))
        return {"u": u_new, "z": g.heaviside(op("Sub", u_new, thr))}

    # ---- fixed point (constants ka = alpha, kc = 1 - alpha, th: LIF's)
    def int_step(self, fx, s, z, cur):
        k = fx.k
        m = s[..., 0] * (1 - z)                                           # reset membrane, exact
        return sat32(rshift_round(k["ka"] * m + k["kc"] * cur, FA))[..., None]

    def int_jacobian(self, fx, s, hp, psi):
        z = (hp > 0).astype(np.int64)
        dm = (1 - z) * ONE - sat_sym(rshift_round(s[..., 0] * psi, fx.fs), A_MAX)   # dm/du in Q.24
        return rshift_round(fx.k["ka"] * dm, FA)[..., None, None]
