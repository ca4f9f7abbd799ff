"""AdLIF, adaptive LIF with a multiplicative reset: the fourth model of the HYPR reference (IMLTUGraz/HYPR,
models/adlif_jax.py), in this project's state convention (docs/fixed-point.md §4.4 has the derivation)."""
from __future__ import annotations

import numpy as np

from ..fixed.spec import A_MAX, FA, rshift_round, sat32, sat_sym
from .base import ONE, POSITIVE, SLAYER, STATE_SCALAR, UNIT, Neuron, check_decays, logit, sigmoid_and_slope, torch


class AdLIF(Neuron):
    """s = (u, w). The reference's w_t = beta w_{t-1} + (1 - beta) q (a u_t (1 - z_t) + b z_{t-1}) (q = adapt_coeff)
    holds a term of u_t and z_t; the state's w leaves it out and f adds it back at the next step, from s_{t-1} alone.
    With z = z_{t-1} = H(u_{t-1} - threshold), the reset membrane m = u_{t-1} (1 - z), k_a = (1 - beta) q a and
    k_b = (1 - beta) q b:

        w'  = w_{t-1} + k_a m                  the reference's adaptation current w_{t-1}
        u_t = alpha m + (1 - alpha) (I_t - w')
        w_t = beta w' + k_b z                  h = u - threshold

    The reference's dynamics, with c = df/dI = (1 - alpha, 0) constant per neuron, as the device's chunk update
    needs. alpha, beta = sigmoid(raw); a, b = |raw|."""
    name = "adlif"
    state_names = ("u", "w")
    param_names = ("alpha", "beta", "a", "b")   # membrane and adaptation decays in (0, 1); couplings a, b >= 0
    default_constants = {"threshold": 1.0, "adapt_coeff": 120.0}
    surrogate = SLAYER
    # alpha, 1 - alpha, beta, (1 - beta) q a, (1 - beta) q b
    fixed_consts = {"ka": UNIT, "kc": UNIT, "kr": UNIT, "kwa": POSITIVE, "kwb": POSITIVE}
    fixed_scalars = {"th": STATE_SCALAR}
    # the adaptation current follows the membrane and holds it down: larger currents than LIF's to spike
    drive, current_std, spike_gain = 4.0, 4.0, 1.0

    # ---- float
    def h(self, s):
        return s[..., 0] - self.k["threshold"]

    def dh_ds(self, s):
        out = torch.zeros_like(s)
        out[..., 0] = 1.0
        return out

    def effective(self, p):
        return {"alpha": torch.sigmoid(p["alpha"]), "beta": torch.sigmoid(p["beta"]), "a": p["a"].abs(),
                "b": p["b"].abs()}

    def raw_from_effective(self, e):
        return {"alpha": logit(e["alpha"]), "beta": logit(e["beta"]),
                "a": torch.as_tensor(e["a"], dtype=torch.float64), "b": torch.as_tensor(e["b"], dtype=torch.float64)}

    def init_raw(self, n, gen, dtype, tau_u=(5.0, 25.0), tau_w=(60.0, 300.0), a=(0.0, 1.0), b=(0.0, 1.0)):
        """The reference's ranges: time constants 5..25 and 60..300 steps, a and b in [0, 1]."""
        def uniform(lo, hi):
            return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dtype)
        return {"alpha": logit(torch.exp(-1.0 / uniform(*tau_u))).to(dtype),
                "beta": logit(torch.exp(-1.0 / uniform(*tau_w))).to(dtype), "a": uniform(*a), "b": uniform(*b)}

    def step(self, s_prev, current, p, z_prev=None):
        z_prev = self.spike(s_prev) if z_prev is None else z_prev
        alpha, beta = torch.sigmoid(p["alpha"]), torch.sigmoid(p["beta"])
        kq = (1 - beta) * self.k["adapt_coeff"]
        m = s_prev[..., 0] * (1 - z_prev)
        w = s_prev[..., 1] + kq * p["a"].abs() * m
        u = alpha * m + (1 - alpha) * (current - w)
        return torch.stack((u, beta * w + kq * p["b"].abs() * z_prev), dim=-1)

    def local_terms(self, s_prev, current, p):
        alpha, dalpha = sigmoid_and_slope(p["alpha"])
        beta, dbeta = sigmoid_and_slope(p["beta"])
        q = self.k["adapt_coeff"]
        a, b = p["a"].abs(), p["b"].abs()
        u_prev = s_prev[..., 0]
        h_prev = self.h(s_prev)
        psi = self.psi(h_prev)
        z = (h_prev > 0).to(u_prev.dtype)
        m = u_prev * (1 - z)
        dm = (1 - z) - u_prev * psi          # dm / du_{t-1}, through the reset's surrogate
        k_a, k_b = (1 - beta) * q * a, (1 - beta) * q * b
        w = s_prev[..., 1] + k_a * m
        A = [(alpha - (1 - alpha) * k_a) * dm, -(1 - alpha),
             beta * k_a * dm + k_b * psi, beta]
        s_a, s_b = torch.sign(p["a"]), torch.sign(p["b"])
        D = [(m - current + w) * dalpha, 0.0,                                           # alpha
             (1 - alpha) * q * a * m * dbeta, (w - beta * q * a * m - q * b * z) * dbeta,  # beta
             -(1 - alpha) * (1 - beta) * q * m * s_a, beta * (1 - beta) * q * m * s_a,   # a
             0.0, (1 - beta) * q * z * s_b]                                               # b
        return A, [1 - alpha, 0.0], D

    # ---- ONNX
    def onnx_step(self, g, prefix, state, current_of):
        c, op = g.const, g.op
        u, w_prev = state["u"], state["w"]
        thr = c(self.k["threshold"])
        z_prev = g.heaviside(op("Sub", u, thr))
        alpha, beta, a, b = (prefix + name for name in self.param_names)
        kq = op("Mul", op("Sub", c(1.0), beta), c(self.k["adapt_coeff"]))
        m = op("Mul", u, op("Sub", c(1.0), z_prev))
        w = op("Add", w_prev, op("Mul", op("Mul", kq, a), m))
        u_new = op("Add", op("Mul", alpha, m), op("Mul", op("Sub", c(1.0), alpha), op("Sub", current_of(z_prev), w)))
        w_new = op("Add", op("Mul", beta, w), op("Mul", op("Mul", kq, b), z_prev))
        return {"u": u_new, "w": w_new, "z": g.heaviside(op("Sub", u_new, thr))}

    # ---- fixed point
    def fixed_check(self, params):
        check_decays(self.name, params, ("alpha", "beta"))
        if np.any(params["a"] < 0) or np.any(params["b"] < 0):
            raise ValueError("adlif couplings a and b must be >= 0")
        if not self.k["adapt_coeff"] >= 0:
            raise ValueError(f"adlif adapt_coeff = {self.k['adapt_coeff']} must be >= 0")

    def fixed_values(self, params):
        alpha, beta, q = params["alpha"], params["beta"], self.k["adapt_coeff"]
        return ({"ka": alpha, "kc": 1 - alpha, "kr": beta, "kwa": (1 - beta) * q * params["a"],
                 "kwb": (1 - beta) * q * params["b"]}, {"th": self.k["threshold"]})

    def from_fixed(self, k, sc):
        scale = (1 - k["kr"]) * self.k["adapt_coeff"]     # (1 - beta) q; where it is 0, a and b have no effect

        def coupling(v):
            return np.divide(v, scale, out=np.zeros_like(scale), where=scale > 0)
        return ({"alpha": k["ka"], "beta": k["kr"], "a": coupling(k["kwa"]), "b": coupling(k["kwb"])},
                {"threshold": sc["th"]})

    def int_h(self, fx, s):
        return s[..., 0] - fx.sc["th"]

    def int_step(self, fx, s, z, cur):
        k = fx.k
        m = s[..., 0] * (1 - z)                                           # reset membrane, exact
        w = sat32(s[..., 1] + rshift_round(k["kwa"] * m, FA))             # w_{t-1}'
        u = sat32(rshift_round(k["ka"] * m + k["kc"] * cur - k["kc"] * w, FA))
        w_new = sat32(rshift_round(k["kr"] * w + k["kwb"] * (z << fx.fs), FA))
        return np.stack((u, w_new), -1)

    def int_jacobian(self, fx, s, hp, psi):
        k = fx.k
        z = (hp > 0).astype(np.int64)
        dm = (1 - z) * ONE - sat_sym(rshift_round(s[..., 0] * psi, fx.fs), A_MAX)   # dm/du in Q.24
        kum = k["ka"] - rshift_round(k["kc"] * k["kwa"], FA)      # alpha - (1 - alpha) ka
        krw = rshift_round(k["kr"] * k["kwa"], FA)                # beta ka
        a10 = rshift_round(krw * dm, FA) + rshift_round(k["kwb"] * psi, FA)
        return np.stack((np.stack((rshift_round(kum * dm, FA), np.broadcast_to(-k["kc"], psi.shape)), -1),
                         np.stack((a10, np.broadcast_to(k["kr"], psi.shape)), -1)), -2)

    def int_g(self, fx, psi):
        return np.stack((psi, np.zeros_like(psi)), -1)

    def int_input_gain(self, fx):
        return fx.k["kc"]                  # 1 - alpha

    # ---- tooling
    def random_params(self, rng, n):
        return {"alpha": np.exp(-1.0 / rng.uniform(5, 25, (n,))), "beta": np.exp(-1.0 / rng.uniform(60, 300, (n,))),
                "a": rng.uniform(0, 1, (n,)), "b": rng.uniform(0, 1, (n,))}
