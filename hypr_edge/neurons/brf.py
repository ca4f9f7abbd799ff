"""BRF, balanced resonate-and-fire (HYPR.md section 2; docs/fixed-point.md §4 BRF)."""
from __future__ import annotations

import math

import numpy as np

from ..fixed.spec import A_MAX, FA, rshift_round, sat32, sat_sym
from .base import DOUBLE_GAUSSIAN, ONE, SIGNED, STATE_SCALAR, UNIT, Neuron, Scalar, torch


class BRF(Neuron):
    """s = (u, v, r), r the refractory value before this step's spike; omega = |raw|, b' = |raw|:
    q = gamma r_{t-1} + z_{t-1}; beta = p(omega) - b' - q; u_t = u + delta (beta u - omega v + I); v_t = v +
    delta (omega u + beta v); r_t = q; h = u - threshold - r (HYPR.md section 2)."""
    name = "brf"
    state_names = ("u", "v", "r")
    param_names = ("omega", "b_offset")  # angular frequency (rad per unit time), damping offset b' >= 0
    default_constants = {"delta": 0.01, "threshold": 1.0, "gamma": 0.9}
    surrogate = DOUBLE_GAUSSIAN
    fixed_consts = {"kb": SIGNED, "kw": UNIT, "kc": UNIT}        # delta (p(omega) - b'), delta omega, delta
    fixed_scalars = {"th": STATE_SCALAR, "kg": Scalar("fa", 0, ONE - 1)}   # threshold, gamma
    # BRF integrates delta * I = 0.01 I per step: it needs far larger currents than LIF to spike
    drive, current_std, spike_gain = 20.0, 15.0, 10.0

    # ---- float
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

    #: training keeps delta*|omega| at most this: p(omega) is real up to 1, but its slope -dw / sqrt(1 - dw^2)
    #: (in D) grows without bound there, and one Adam step past 1 makes every state NaN
    OMEGA_LIMIT = 0.99

    def domain_error(self, p):
        dw = self.k["delta"] * p["omega"].detach().abs()
        if bool((dw >= 1).any()):
            k = int(dw.argmax())
            return (f"BRF neuron {k} has delta*omega = {float(dw[k]):.4g}: it must be < 1, where p(omega) is real "
                    f"and differentiable")
        return None

    def project_(self, p):
        bound = self.OMEGA_LIMIT / self.k["delta"]
        with torch.no_grad():
            p["omega"].clamp_(-bound, bound)

    def raw_from_effective(self, e):
        return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in e.items()}

    def init_raw(self, n, gen, dtype, omega=(5.0, 10.0), b_offset=(2.0, 3.0)):
        def uniform(lo, hi):
            return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dtype)
        return {"omega": uniform(*omega), "b_offset": uniform(*b_offset)}

    def band_init(self, band):
        """omega that resonates in the band: a BRF neuron rotates by delta*omega radians per step, so it resonates
        at f = delta*omega / 2pi; the default omega ~ U(5, 10) covers only 0.008-0.016 cycles/step. Capped at
        delta*omega = 0.9: p(omega) needs <= 1. With it b' ~ U(0.1, 1), the reference's range for such bands (pixel
        sequences): less damping than the default U(2, 3), a sharper resonance (digits +2-4 pp, docs/training.md)."""
        if band is None:
            return {}
        delta = self.k["delta"]
        return {"omega": tuple(min(2 * math.pi * f / delta, 0.9 / delta) for f in band), "b_offset": (0.1, 1.0)}

    def memory_init(self, memory):
        """b' for a state held `memory` steps: without input an oscillation decays by exp(-delta b') per step, so
        b' ~ U(0, 1 / (delta memory)) keeps at least 1/e of it (the default b' ~ U(2, 3) forgets within 50 steps)."""
        if memory is None:
            return {}
        return {"b_offset": (0.0, min(2.0, 1.0 / (self.k["delta"] * memory)))}

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

    # ---- ONNX
    def onnx_step(self, g, prefix, state, current_of):
        c, op = g.const, g.op
        u, v, r = state["u"], state["v"], state["r"]
        delta, thr = c(self.k["delta"]), c(self.k["threshold"])
        omega, b = prefix + "omega", prefix + "b_offset"
        z_prev = g.heaviside(op("Sub", op("Sub", u, thr), r))
        q = op("Add", op("Mul", c(self.k["gamma"]), r), z_prev)
        dw = op("Mul", delta, omega)  # p(omega) = (-1 + sqrt(1 - (delta omega)^2)) / delta
        p_omega = op("Div", op("Add", c(-1.0), op("Sqrt", op("Sub", c(1.0), op("Mul", dw, dw)))), delta)
        beta = op("Sub", op("Sub", p_omega, b), q)
        du = op("Add", op("Sub", op("Mul", beta, u), op("Mul", omega, v)), current_of(z_prev))
        u_new = op("Add", u, op("Mul", delta, du))
        dv = op("Add", op("Mul", omega, u), op("Mul", beta, v))
        v_new = op("Add", v, op("Mul", delta, dv))
        z = g.heaviside(op("Sub", op("Sub", u_new, thr), q))
        return {"u": u_new, "v": v_new, "r": q, "z": z}

    # ---- fixed point
    def fixed_check(self, params):
        delta = float(self.k["delta"])
        dw = delta * np.abs(params["omega"])
        if np.any(dw > 1):
            raise ValueError(f"BRF neuron {int(np.argmax(dw))} has delta*omega = {dw.max():.4g} > 1: "
                             "p(omega) is not real")
        if not 0 < delta <= 1:
            raise ValueError(f"BRF delta = {delta} outside (0, 1]")
        if not 0 <= self.k["gamma"] < 1:
            raise ValueError("BRF gamma must lie in [0, 1)")

    def fixed_values(self, params):
        delta = float(self.k["delta"])
        om = np.abs(params["omega"])
        pw = (-1.0 + np.sqrt(1.0 - (delta * om) ** 2)) / delta
        return ({"kb": delta * (pw - np.abs(params["b_offset"])), "kw": delta * om, "kc": np.full(len(om), delta)},
                {"th": self.k["threshold"], "kg": self.k["gamma"]})

    def from_fixed(self, k, sc):
        delta = float(self.k["delta"])
        omega = k["kw"] / delta
        p = (-1.0 + np.sqrt(np.maximum(1.0 - (delta * omega) ** 2, 0.0))) / delta
        return ({"omega": omega, "b_offset": np.maximum(p - k["kb"] / delta, 0.0)},
                {"threshold": sc["th"], "gamma": sc["kg"]})

    def int_h(self, fx, s):
        return s[..., 0] - fx.sc["th"] - s[..., 2]

    def _q_beta(self, fx, s, z, out=None):
        """q = gamma r + z (Q.fs) and delta*beta = kb - delta q (Q.24): brf_q_beta. out: where q goes."""
        q = np.multiply(s[..., 2], fx.sc["kg"], out=out)
        q += 1 << (FA - 1)                                          # rshift_round(kg r, FA), in place
        q >>= FA
        q += z << fx.fs
        sat32(q, out=q)
        kbeta = fx.k["kc"] * q
        kbeta = np.subtract(fx.k["kb"], rshift_round(kbeta, fx.fs), out=kbeta)
        return q, sat_sym(kbeta, A_MAX, out=kbeta)

    def int_step(self, fx, s, z, cur):
        k, half = fx.k, 1 << (FA - 1)
        out = np.empty(s.shape, np.int64)
        _, kbeta = self._q_beta(fx, s, z, out=out[..., 2])                     # r_t = q
        u, v = s[..., 0], s[..., 1]
        un = kbeta * u                                                          # u + round(kbeta u - kw v + kc I)
        t = k["kw"] * v
        un -= t
        un += np.multiply(k["kc"], cur, out=t)
        un += half
        un >>= FA
        un += u
        vn = np.multiply(k["kw"], u, out=t)                                     # v + round(kw u + kbeta v)
        vn += np.multiply(kbeta, v, out=kbeta)
        vn += half
        vn >>= FA
        vn += v
        sat32(un, out=out[..., 0])
        sat32(vn, out=out[..., 1])
        return out

    def int_jacobian(self, fx, s, hp, psi):
        k, fs = fx.k, fx.fs
        _, kbeta = self._q_beta(fx, s, (hp > 0).astype(np.int64))
        A = np.zeros(psi.shape + (3, 3), np.int64)
        pd = A[..., 2, ::2]                                         # row 2: (psi, 0, gamma - psi)
        pd[..., 0] = psi
        np.subtract(fx.sc["kg"], psi, out=pd[..., 1])
        duv = k["kc"][:, None] * s[..., :2]                         # (delta u, delta v) in Q.24
        duv = sat_sym(rshift_round(duv, fs), A_MAX, out=duv)
        corr = duv[..., :, None] * pd[..., None, :]                 # [[du psi, du dqr], [dv psi, dv dqr]]
        corr += 1 << (FA - 1)                                       # rshift_round(., FA), in place
        corr >>= FA
        np.negative(corr, out=A[..., :2, ::2])
        kbeta += ONE                                                # 1 + delta beta
        A[..., 0, 0] += kbeta
        A[..., 1, 1] = kbeta
        A[..., 1, 0] += k["kw"]
        np.negative(k["kw"], out=A[..., 0, 1])
        return A

    def int_g(self, fx, psi):
        return np.stack((psi, np.zeros_like(psi), -psi), -1)

    def int_input_gain(self, fx):
        return fx.k["kc"]                  # delta

    # ---- tooling
    def random_params(self, rng, n):
        return {"omega": rng.uniform(5, 50, (n,)), "b_offset": rng.uniform(0.1, 3, (n,))}
