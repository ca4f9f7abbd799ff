"""ALIF, an adaptive threshold (HYPR.md section 2; docs/fixed-point.md §4 ALIF)."""
from __future__ import annotations

import numpy as np

from ..fixed.spec import A_MAX, FA, rshift_round, sat32, sat_sym
from .base import SIGNED, SLAYER, STATE_SCALAR, UNIT, Neuron, Scalar, check_decays, logit, sigmoid_and_slope, torch


class ALIF(Neuron):
    """s = (u, a): a_t = rho a_{t-1} + (1 - rho) z_{t-1}; threshold A = b0 + beta_a a;
    u_t = alpha u_{t-1} + (1 - alpha) I_t - A_{t-1} z_{t-1}; h = u - A; alpha, rho = sigmoid(raw)."""
    name = "alif"
    state_names = ("u", "a")
    param_names = ("alpha", "rho")     # membrane decay, adaptation decay, in (0, 1)
    default_constants = {"b0": 1.0, "beta_a": 1.8}
    surrogate = SLAYER
    fixed_consts = {"ka": UNIT, "kc": UNIT, "kr": UNIT, "kr1": UNIT}     # alpha, 1 - alpha, rho, 1 - rho
    fixed_scalars = {"th0": STATE_SCALAR, "kba": Scalar("fa", *SIGNED)}  # b0, beta_a
    drive, current_std, spike_gain = 1.0, 2.0, 1.0

    # ---- float
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
        return {"alpha": logit(e["alpha"]), "rho": logit(e["rho"])}

    def init_raw(self, n, gen, dtype):
        tau = 5.0 + 20.0 * torch.rand(n, generator=gen, dtype=dtype)
        tau_a = 50.0 + 150.0 * torch.rand(n, generator=gen, dtype=dtype)  # adaptation 50..200 steps
        return {"alpha": logit(torch.exp(-1.0 / tau)).to(dtype), "rho": logit(torch.exp(-1.0 / tau_a)).to(dtype)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha, rho = torch.sigmoid(p["alpha"]), torch.sigmoid(p["rho"])
        u_prev, a_prev = s_prev[..., 0], s_prev[..., 1]
        a = rho * a_prev + (1 - rho) * z_prev
        u = alpha * u_prev + (1 - alpha) * current - self.threshold(s_prev) * z_prev
        return torch.stack((u, a), dim=-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = sigmoid_and_slope(p["alpha"])
        rho, drho = sigmoid_and_slope(p["rho"])
        beta_a = self.k["beta_a"]
        u_prev, a_prev = s_prev[..., 0], s_prev[..., 1]
        thr_prev = self.threshold(s_prev)
        psi_prev = self.psi(u_prev - thr_prev)
        z_prev = (u_prev - thr_prev > 0).to(u_prev.dtype)
        A = [alpha - thr_prev * psi_prev, -beta_a * z_prev + beta_a * thr_prev * psi_prev,
             (1 - rho) * psi_prev, rho - (1 - rho) * beta_a * psi_prev]
        return A, [1 - alpha, 0.0], [(u_prev - current) * dalpha, 0.0, 0.0, (a_prev - z_prev) * drho]

    # ---- ONNX
    def onnx_step(self, g, prefix, state, current_of):
        c, op = g.const, g.op
        u, a = state["u"], state["a"]

        def threshold(a_):  # A = b0 + beta_a a
            return op("Add", c(self.k["b0"]), op("Mul", c(self.k["beta_a"]), a_))

        thr_prev = threshold(a)
        z_prev = g.heaviside(op("Sub", u, thr_prev))
        alpha, rho = prefix + "alpha", prefix + "rho"
        a_new = op("Add", op("Mul", rho, a), op("Mul", op("Sub", c(1.0), rho), z_prev))
        u_new = op("Sub", op("Add", op("Mul", alpha, u), op("Mul", op("Sub", c(1.0), alpha), current_of(z_prev))),
                   op("Mul", thr_prev, z_prev))
        return {"u": u_new, "a": a_new, "z": g.heaviside(op("Sub", u_new, threshold(a_new)))}

    # ---- fixed point
    def fixed_check(self, params):
        check_decays(self.name, params, self.param_names)

    def fixed_values(self, params):
        alpha, rho = params["alpha"], params["rho"]
        return ({"ka": alpha, "kc": 1 - alpha, "kr": rho, "kr1": 1 - rho},
                {"th0": self.k["b0"], "kba": self.k["beta_a"]})

    def from_fixed(self, k, sc):
        return {"alpha": k["ka"], "rho": k["kr"]}, {"b0": sc["th0"], "beta_a": sc["kba"]}

    def _thr(self, fx, a):
        """thr(a) = sat32(th0 + rshift_round(kba a, 24)), Q.fs."""
        return sat32(fx.sc["th0"] + rshift_round(fx.sc["kba"] * a, FA))

    def int_h(self, fx, s):
        return s[..., 0] - self._thr(fx, s[..., 1])

    def int_step(self, fx, s, z, cur):
        k = fx.k
        thr_prev = self._thr(fx, s[..., 1])
        a = sat32(rshift_round(k["kr"] * s[..., 1] + k["kr1"] * (z << fx.fs), FA))
        u = sat32(rshift_round(k["ka"] * s[..., 0] + k["kc"] * cur, FA) - z * thr_prev)
        return np.stack((u, a), -1)

    def int_jacobian(self, fx, s, hp, psi):
        k, kba, fs = fx.k, fx.sc["kba"], fx.fs
        z = (hp > 0).astype(np.int64)
        thr = self._thr(fx, s[..., 1])
        bt = sat_sym(rshift_round(kba * thr, fs), A_MAX)
        b11 = rshift_round(k["kr1"] * kba, FA)
        return np.stack((np.stack((k["ka"] - rshift_round(thr * psi, fs), -z * kba + rshift_round(bt * psi, FA)), -1),
                         np.stack((rshift_round(k["kr1"] * psi, FA), k["kr"] - rshift_round(b11 * psi, FA)), -1)), -2)

    def int_g(self, fx, psi):
        return np.stack((psi, sat_sym(-rshift_round(fx.sc["kba"] * psi, FA), A_MAX)), -1)

    def int_input_gain(self, fx):
        return fx.k["kc"]                  # 1 - alpha

    # ---- tooling
    def random_params(self, rng, n):
        return {"alpha": rng.uniform(0.8, 0.97, (n,)), "rho": rng.uniform(0.98, 0.995, (n,))}
