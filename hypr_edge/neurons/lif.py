"""LIF, reset by subtraction (HYPR.md section 2; docs/fixed-point.md §4 LIF)."""
from __future__ import annotations

from ..fixed.spec import FA, rshift_round, sat32
from .base import SLAYER, STATE_SCALAR, UNIT, Neuron, check_decays, logit, sigmoid_and_slope, torch


class LIF(Neuron):
    """s = (u,): u_t = alpha u_{t-1} + (1 - alpha) I_t - threshold z_{t-1}; h = u - threshold; alpha = sigmoid(raw)."""
    name = "lif"
    state_names = ("u",)
    param_names = ("alpha",)           # membrane decay per step, in (0, 1)
    default_constants = {"threshold": 1.0}
    surrogate = SLAYER
    fixed_consts = {"ka": UNIT, "kc": UNIT}          # alpha, 1 - alpha
    fixed_scalars = {"th": STATE_SCALAR}             # threshold
    drive, current_std, spike_gain = 1.0, 2.0, 1.0

    # ---- float
    def h(self, s):
        return s[..., 0] - self.k["threshold"]

    def dh_ds(self, s):
        return torch.ones_like(s)

    def effective(self, p):
        return {"alpha": torch.sigmoid(p["alpha"])}

    def raw_from_effective(self, e):
        return {"alpha": logit(e["alpha"])}

    def init_raw(self, n, gen, dtype):
        tau = 5.0 + 20.0 * torch.rand(n, generator=gen, dtype=dtype)  # membrane time constants 5..25 steps
        return {"alpha": logit(torch.exp(-1.0 / tau)).to(dtype)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha = torch.sigmoid(p["alpha"])
        u = alpha * s_prev[..., 0] + (1 - alpha) * current - self.k["threshold"] * z_prev
        return u.unsqueeze(-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = sigmoid_and_slope(p["alpha"])
        u_prev = s_prev[..., 0]
        psi_prev = self.psi(self.h(s_prev))
        return [alpha - self.k["threshold"] * psi_prev], [1 - alpha], [(u_prev - current) * dalpha]

    # ---- ONNX
    def onnx_step(self, g, prefix, state, current_of):
        c, op = g.const, g.op
        u = state["u"]
        thr = c(self.k["threshold"])
        z_prev = g.heaviside(op("Sub", u, thr))
        alpha = prefix + "alpha"
        u_new = op("Sub", op("Add", op("Mul", alpha, u), op("Mul", op("Sub", c(1.0), alpha), current_of(z_prev))),
                   op("Mul", thr, z_prev))
        return {"u": u_new, "z": g.heaviside(op("Sub", u_new, thr))}

    # ---- fixed point
    def fixed_check(self, params):
        check_decays(self.name, params, self.param_names)

    def fixed_values(self, params):
        return {"ka": params["alpha"], "kc": 1 - params["alpha"]}, {"th": self.k["threshold"]}

    def from_fixed(self, k, sc):
        return {"alpha": k["ka"]}, {"threshold": sc["th"]}

    def int_h(self, fx, s):
        return s[..., 0] - fx.sc["th"]

    def int_step(self, fx, s, z, cur):
        k = fx.k
        return sat32(rshift_round(k["ka"] * s[..., 0] + k["kc"] * cur, FA) - z * fx.sc["th"])[..., None]

    def int_jacobian(self, fx, s, hp, psi):
        return (fx.k["ka"] - rshift_round(fx.sc["th"] * psi, fx.fs))[..., None, None]

    def int_g(self, fx, psi):
        return psi[..., None]

    def int_input_gain(self, fx):
        return fx.k["kc"]                  # 1 - alpha

    # ---- tooling
    def random_params(self, rng, n):
        return {"alpha": rng.uniform(0.8, 0.97, (n,))}
