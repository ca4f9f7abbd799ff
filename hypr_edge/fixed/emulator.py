"""The NumPy twin of the generated C (docs/fixed-point.md): integer arithmetic only, vectorised over a batch of
independent streams, each with its own state, weights, eligibilities and PRNG (B independent devices).

Every function below names the section of the spec it implements and the C function that mirrors it.
"""
from __future__ import annotations

import numpy as np

from ..neurons.base import FixedConstants
from .qmodel import QuantizedModel
from .spec import (A_MAX, FA, FEO, G1_MAX, G_MAX, I32_MAX, elig_bounds, psi_eval, rshift_round, sat16, sat32,
                   sat_sym, softmax_eps, stochastic_shift, xorshift32_draws, align)

I64 = np.int64
U32_MAX = 0xFFFFFFFF


def prng_states(model_seed: int, seeds, batch: int) -> np.ndarray:
    """hypr_seed for each stream: (batch,) uint64 PRNG states. A seed of 0 selects the model's seed, as the C's
    hypr_seed(0) does (xorshift32 started at 0 would stay 0); None: every stream starts at the model's seed."""
    if seeds is None:
        return np.full(batch, model_seed, dtype=np.uint64)
    raw = np.asarray(seeds)
    if raw.dtype.kind not in "iu" and not (raw.dtype == object and all(isinstance(v, int) for v in raw.ravel())):
        raise ValueError(f"PRNG seeds must be integers, got {raw.dtype}")
    values = [int(v) for v in np.broadcast_to(raw, (batch,))]
    if any(not 0 <= v <= U32_MAX for v in values):
        raise ValueError("PRNG seeds must be 32-bit unsigned values (0..0xFFFFFFFF)")
    return np.array([v or model_seed for v in values], dtype=np.uint64)


def stream_seed(model_seed: int, k: int) -> int:
    """The seed of stream k in `verify` and the benchmarks: model seed + k, wrapped to 32 bits; where that is 0,
    both the C and the emulator run the model's seed (prng_states)."""
    return (int(model_seed) + int(k)) & U32_MAX


EXACT_F64 = 2 ** 53   # every integer below it is a float64: sums of such integers are exact in any order


def _exact_matmul(a, b, max_a: int | None = None, max_b: int | None = None):
    """a @ b of integer arrays with the exact integer result. In float64 (BLAS, many times faster than NumPy's int64
    product) when no partial sum can reach 2^53: with |a| <= max_a, |b| <= max_b (measured if not given) and K
    terms, every partial sum is an integer of magnitude <= K max_a max_b, so each float64 addition (and FMA) is
    exact, whatever order or blocking BLAS uses; else in int64."""
    k = a.shape[-1]
    if max_a is None:
        max_a = int(np.abs(a).max(initial=0))
    if max_b is None:
        max_b = int(np.abs(b).max(initial=0))
    if k * max_a * max_b < EXACT_F64:
        return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(I64)
    return np.matmul(a, b)


def _at_times(A, q):
    """A^T q per neuron: (..., d, d), (..., d) -> (..., d), sum_j A[j, i] q[j] (exact integer sums)."""
    return np.matmul(q[..., None, :], A)[..., 0, :]


def _sat_in_place(v, lo: int, hi: int):
    """sat on a fresh array, in place (np.clip costs more per call)."""
    np.maximum(v, lo, out=v)
    return np.minimum(v, hi, out=v)


def _sat32_in_place(v):
    return _sat_in_place(v, -(1 << 31), I32_MAX)


def _round_in_place(v, s: int):
    """rshift_round on a fresh array, in place."""
    if s:
        v += 1 << (s - 1)
        v >>= s
    return v


class Emulator:
    def __init__(self, qm: QuantizedModel, batch: int = 1, learn: bool = False, seeds=None, stats: bool = False):
        self.qm, self.B, self.learning = qm, batch, learn
        f = qm.formats
        self.fx, self.fw, self.fwo, self.fs, self.fe = f["fx"], f["fw"], f["fwo"], f["fs"], f["fe"]
        self.k = {n: np.asarray(v, dtype=I64) for n, v in qm.k.items()}
        self.sc = {n: int(v) for n, v in qm.scalars.items()}
        self.kao, self.kbo = np.asarray(qm.kao, I64), np.asarray(qm.kbo, I64)
        self.psi_t, self.psi_sh, self.e2 = qm.psi_table, qm.psi_shift, qm.exp2_table
        self.model = qm.model                    # the neuron model's integer kernels (int_h, int_step, ...)
        self.consts = FixedConstants(self.k, self.sc, self.fs)
        self.c0 = np.asarray(self.model.int_input_gain(self.consts), I64)   # df/dI = (c0, 0, ...), per neuron
        self.learn_hidden = qm.learn == "all"
        self.stats = {"e_max": 0} if stats else None
        self.prng = prng_states(qm.seed, seeds, batch)
        self.w = np.broadcast_to(np.asarray(qm.w, I64), (batch, *qm.w.shape)).copy()
        self.wo = np.broadcast_to(np.asarray(qm.wo, I64), (batch, *qm.wo.shape)).copy()
        self.updates = 0
        self._phi_cache = {}                    # chunk length -> the readout's Phi products (_readout_phi)
        self._w_rows = None                     # w^T of every stream while they share it (inference in run)
        self.reset_state()

    # §8.1 hypr_reset_state
    def reset_state(self):
        qm, B, lam = self.qm, self.B, self.qm.chunk
        n, d = qm.n_hidden, qm.d
        self.s = np.zeros((B, n, d), I64)
        self.z = np.zeros((B, n), I64)
        self.o = np.zeros((B, qm.n_out), I64)
        self.e_t = np.zeros((B, n, d, qm.m), I64)      # stored synapse index last (contiguous rows for _apply)
        self.e = self.e_t.transpose(0, 1, 3, 2)         # (B, n, m, d): the spec's and the C's index order
        self.eo = np.zeros((B, qm.n_out, n + 1), I64)
        self.pos = 0
        # §9.1 chunk buffers: only what cannot be recomputed (the C stores the spikes as bits)
        self.buf_s0 = np.zeros((B, n, d), I64)               # s_0, the states at the chunk start
        self.buf_x = np.zeros((B, lam, qm.n_in), I64)         # x_t
        self.buf_z = np.zeros((B, lam + 1, n), I64)           # z_0 .. z_lambda
        self.buf_eps = np.zeros((B, lam, qm.n_out), I64)      # eps_t
        # o_t and labels of the chunk: eps_t for all of them at once when needed (_settle_eps); rows of buf_eps
        # below _eps_done hold them already
        self.buf_o = np.zeros((B, lam, qm.n_out), I64)
        self.buf_label = np.zeros((B, lam), I64)
        self._eps_done = 0
        # s_0 .. s_t as the forward steps computed them; _recorded = t while they are the chunk's own (the C
        # replays them instead; a state loaded mid-chunk has none, so the chunk update replays then)
        self.buf_s = np.zeros((B, lam + 1, n, d), I64) if self.learn_hidden else None
        self._recorded = 0

    # §11 the learning state (hypr_state_read / hypr_state_load): learning_state.py, files: hypr_edge/checkpoint.py
    def state(self, stream: int = 0) -> dict:
        from .learning_state import emulator_state
        self._settle_eps()
        return emulator_state(self, stream)

    def load_state(self, state, stream: int | None = None) -> None:
        """state: a dict of state(), an image (bytes) or a Checkpoint (Checkpoint.load(path)); stream None: all."""
        from .learning_state import load_emulator_state
        load_emulator_state(self, state, stream)
        self._recorded = -1                     # the loaded chunk's states are not recorded: replay them
        self._eps_done = self.pos               # the loaded buffer holds eps_1 .. eps_pos

    # §4 the neuron model, §9.2-9.3 its Jacobian and g: the model's integer kernels -------------------------
    def h(self, s):
        """Spike pre-activation h(s) in Q.fs (int64)."""
        return self.model.int_h(self.consts, s)

    def neuron_step(self, s, z, cur):
        """§4: s_t = f(s_{t-1}, I_t) with z = z_{t-1}; returns (s_t, z_t)."""
        s_new = self.model.int_step(self.consts, s, z, cur)
        return s_new, (self.h(s_new) > 0).astype(I64)

    def jacobian(self, s):
        """§9.2: A_t (..., d, d) in Q.FA from s_{t-1} (z_{t-1} = H(h(s_{t-1})))."""
        hp = self.h(s)
        return sat_sym(self.model.int_jacobian(self.consts, s, hp, psi_eval(self.psi_t, hp, self.psi_sh)), A_MAX)

    def g(self, s):
        """§9.3: g_t = psi(h(s_t)) dh/ds in Q.FA."""
        return self.model.int_g(self.consts, psi_eval(self.psi_t, self.h(s), self.psi_sh))

    # §8.2 one step ---------------------------------------------------------------------------------------
    def xa(self, x):
        """Presynaptic column vector [x_t, 1, z_{t-1}] in Q.fx (§3.1)."""
        one, n_in = 1 << self.fx, self.qm.n_in
        xa = np.empty((self.B, self.qm.m), I64)
        xa[:, :n_in] = x
        xa[:, n_in] = one
        if self.qm.recurrent:
            np.multiply(self.z, one, out=xa[:, n_in + 1:])
        return xa

    def step(self, x):
        """hypr_step: I_t, neuron update, spikes, readout. x: (B, n_in) int16 values in Q.fx."""
        if self.pos:      # an inference step inside a learning chunk: the chunk update replays, as the C does
            self._recorded = -1
        return self._step(x)

    def _step(self, x):
        xa = self.xa(x)
        acc = self._synaptic_sum(xa)                                        # Q.(fw+fx), |.| < 2^46
        cur = sat32(align(acc, self.fw + self.fx, self.fs))
        s_prev = self.s
        self.s, self.z = self.neuron_step(self.s, self.z, cur)
        y = np.einsum("bcn,bn->bc", self.wo[:, :, :-1], self.z) + self.wo[:, :, -1]     # Q.fwo
        ys = sat32(align(y, self.fwo, self.fs))
        self.o = sat32(rshift_round(self.kao * self.o + self.kbo * ys, FA))
        return s_prev, xa

    def _synaptic_sum(self, xa):
        """sum_m w[n, m] xa[m] per stream (exact integer sums). Streams that share one weight matrix (inference,
        see run) make one matrix product over the presynaptic columns that are not zero in any stream."""
        if self._w_rows is None:
            return np.matmul(self.w, xa[..., None])[..., 0]
        cols = np.flatnonzero(xa.any(axis=0))
        # int16 weights and presynaptic values (Q.fx inputs, 2^fx for the bias and spikes): |products| <= 2^30
        if len(cols) < 0.8 * xa.shape[1]:
            return _exact_matmul(xa[:, cols], self._w_rows[cols], 1 << 15, 1 << 15)
        return _exact_matmul(xa, self._w_rows, 1 << 15, 1 << 15)

    def learn_step(self, x, labels):
        """hypr_learn_step: a step, then buffer what the chunk update needs (§9.1); update at the chunk end."""
        t = self.pos
        if t == 0:
            self.buf_s0[...] = self.s
            self.buf_z[:, 0] = self.z
            self._eps_done = 0
            if self.learn_hidden:
                self.buf_s[:, 0] = self.s
                self._recorded = 0
        self._step(x)
        if self.learn_hidden and self._recorded == t:
            self.buf_s[:, t + 1] = self.s
            self._recorded = t + 1
        self.buf_x[:, t] = x
        self.buf_z[:, t + 1] = self.z
        self.buf_o[:, t] = self.o
        self.buf_label[:, t] = labels
        self.pos += 1
        if self.pos == self.qm.chunk:
            return self.end_chunk()
        return None

    def _settle_eps(self):
        """§6.2 eps_t = softmax(o_t) - onehot(label_t) of the buffered steps not yet done, all at once (each
        step's eps depends on its own o_t and label alone)."""
        a, n = self._eps_done, self.pos
        if a < n:
            self.buf_eps[:, a:n] = softmax_eps(self.buf_o[:, a:n], self.buf_label[:, a:n], self.fs, self.e2)
            self._eps_done = n

    # §9 the chunk update --------------------------------------------------------------------------------
    def end_chunk(self):
        """hypr_end_chunk: HYPR gradient of the buffered steps, SGD step, eligibility carry. Returns the chunk
        gradients (Q.FQ, per stream) or None when the chunk is empty."""
        n = self.pos
        if n == 0:
            return None
        B, qm = self.B, self.qm
        grads = {}
        self._settle_eps()
        draws_h = qm.n_hidden * qm.m if self.learn_hidden else 0
        draws, self.prng = xorshift32_draws(self.prng, draws_h + qm.n_out * (qm.n_hidden + 1))
        one = 1 << self.fx
        cols = [self.buf_x[:, :n], np.full((B, n, 1), one, I64)] + ([self.buf_z[:, :n] * one] if qm.recurrent else [])
        xa = np.concatenate(cols, axis=2)                                               # xa_t, t = 1..n
        zo = np.concatenate([self.buf_z[:, 1:n + 1], np.ones((B, n, 1), I64)], axis=2)  # [z_t, 1]
        if self.learn_hidden:
            eps_r = rshift_round(self.kbo * self.buf_eps[:, :n], FA)                     # (1 - alpha_o) eps
            L = sat32(rshift_round(np.einsum("bcn,btc->btn", self.wo[:, :, :-1], eps_r), self.fwo))
            states = self.chunk_states(xa)                                              # s_0 .. s_n
            # A_t (from s_{t-1}) and l_t = L_t g_t for every step at once: they do not depend on the recursion
            As = self.jacobian(states[:, :n])                                           # (B, n, N, d, d)
            ls = sat32(rshift_round(L[..., None] * self.g(states[:, 1:]), FA))          # (B, n, N, d)
            qs = np.empty((B, n, qm.n_hidden), I64)
            p0 = np.empty((B, n, qm.n_hidden, qm.d), I64)                              # first column of Phi_t
            P = np.broadcast_to(np.eye(qm.d, dtype=I64) << FA, (B, qm.n_hidden, qm.d, qm.d)).copy()
            q = ls[:, n - 1]
            for t in range(n - 1, -1, -1):                                            # step t+1 of the chunk
                if t < n - 1:                                                          # sat32(l + round(A^T q))
                    q = _round_in_place(_at_times(As[:, t + 1], q), FA)
                    q += ls[:, t]
                    _sat32_in_place(q)
                qs[:, t] = q[..., 0]
                p0[:, t] = P[..., :, 0]
                P = _sat32_in_place(_round_in_place(np.matmul(P, As[:, t]), FA))
            ws = sat32(rshift_round(p0 * self.c0[:, None], FA))
            q0 = sat32(rshift_round(_at_times(As[:, 0], q), FA))
            grads["hidden"] = self._apply(self.w, self.e_t, xa, self.fx, self.fe, qs, q0, P, ws,
                                          self.c0, draws[:, :draws_h], qm.shifts()["hidden"], qm.eligibility_bits)
        # readout: the same update with d = 1, A = alpha_o, c = 1 - alpha_o, presynaptic [z_t, 1] in Q.0
        qo = np.zeros((B, n, qm.n_out), I64)
        q = None
        for t in range(n - 1, -1, -1):
            eps = self.buf_eps[:, t]
            q = eps if q is None else sat32(eps + rshift_round(self.kao * q, FA))
            qo[:, t] = q
        wso, Po = self._readout_phi(n)
        q0o = sat32(rshift_round(self.kao * q, FA))[..., None]
        grads["readout"] = self._apply(self.wo, self.eo[:, :, None, :], zo, 0, FEO, qo, q0o,
                                       np.broadcast_to(Po, (B, *Po.shape)), np.broadcast_to(wso, (B, *wso.shape)),
                                       self.kbo, draws[:, draws_h:], qm.shifts()["readout"])
        self.pos = 0
        self.updates += 1
        self._recorded = 0
        return grads

    def _readout_phi(self, n: int):
        """The readout's Phi_t c (n, C, 1) and Phi_0 (C, 1, 1) of an n-step chunk: they depend on the constants
        alone (A = alpha_o), so they are computed once per chunk length, in the order of the C's recursion."""
        if n not in self._phi_cache:
            wso = np.zeros((n, self.qm.n_out, 1), I64)
            Po = np.full(self.qm.n_out, 1 << FA, I64)
            for t in range(n - 1, -1, -1):
                wso[t, :, 0] = sat32(rshift_round(Po * self.kbo, FA))
                Po = sat32(rshift_round(Po * self.kao, FA))
            self._phi_cache[n] = (wso, Po[:, None, None])
        return self._phi_cache[n]

    def chunk_states(self, xa):
        """s_0 .. s_n of the chunk: the states the forward steps recorded, or (after a state was loaded mid-chunk)
        the replay. Both are the same bits: the weights are fixed within a chunk."""
        n = xa.shape[1]
        if self._recorded == n:
            return self.buf_s[:, :n + 1]
        return self.replay(xa)

    def replay(self, xa):
        """§9.2: s_0 .. s_n recomputed from s_0, the buffered presynaptic columns and spikes (C: the replay in
        hypr_end_chunk). The weights are fixed within a chunk, so this repeats the forward steps bit for bit."""
        n = xa.shape[1]
        acc = np.matmul(xa, self.w.transpose(0, 2, 1))                                 # (B, n, N), all steps
        cur = sat32(align(acc, self.fw + self.fx, self.fs))
        s, out = self.buf_s0, [self.buf_s0]
        for t in range(n):
            s, _ = self.neuron_step(s, self.buf_z[:, t], cur[:, t])
            out.append(s)
        return np.stack(out, 1)

    def _apply(self, w, eT, xa, fxa, fe, qs, q0, P, ws, c0, draws, shift, e_bits=16):
        """§9.5-9.7 (C: per row, one synapse at a time): gradient G from the chunk and e_0, SGD step with stochastic
        rounding, eligibility carry e_n = Phi_0 e_0 + sum_t (Phi_t c) xa_t, saturated to e_bits (§2.1: 16, or 8 for
        int8 hidden eligibilities). eT: the eligibilities as (B, N, d, M) (synapse index last). Updates w and eT in place;
        returns G. Whole-array integer products (matmul): every sum is exact (the spec's bounds keep it inside
        int64) and each rounding is applied to the same sum as in the C. Presynaptic columns that are zero at every
        step (no input, no spike) add nothing to either sum, and a rounded 0 is 0: only the others are multiplied."""
        B, n, N, d = ws.shape
        cols = np.flatnonzero(xa.any(axis=(0, 1)))
        sparse = len(cols) < 0.8 * xa.shape[2]
        xs = xa[:, :, cols] if sparse else xa
        g1 = sat_sym(rshift_round(_exact_matmul(qs.transpose(0, 2, 1), xs), fxa), G1_MAX)  # sum_t q_t xa_t
        g1 = rshift_round(g1 * c0[:, None], FA)
        G = _round_in_place(np.matmul(q0[:, :, None, :], eT)[:, :, 0], fe)             # sum_i q0_i e_0,i
        if sparse:
            G[..., cols] += g1
        else:
            G += g1
        G = sat_sym(G, G_MAX)
        carry = _round_in_place(np.matmul(P, eT), FA)                                  # Phi_0 e_0
        fresh = _exact_matmul(ws.reshape(B, n, N * d).transpose(0, 2, 1), xs)        # sum_t (Phi_t c) xa_t
        fresh = _round_in_place(fresh, FA + fxa - fe).reshape(B, N, d, -1)
        if sparse:
            carry[..., cols] += fresh
        else:
            carry += fresh
        if self.stats is not None and fe == self.fe and w is self.w:
            self.stats["e_max"] = max(self.stats["e_max"], int(np.abs(carry).max(initial=0)))
        _sat_in_place(carry, *elig_bounds(e_bits))
        eT[...] = carry
        step = stochastic_shift(G * self.qm.lr_mant, draws.reshape(G.shape), shift)
        w[...] = sat16(w - step)
        return G

    # whole streams ---------------------------------------------------------------------------------------
    def run(self, x, labels=None, learn: bool | None = None, keep=("states", "spikes", "outputs")):
        """Run (B, T, n_in) quantized inputs from the current state. With learning (labels (B, T), -1 = no loss
        at that step) the last partial chunk is applied at the end. Returns the traces named in `keep`, plus
        'weights' (w, wo after every update) and 'grads' when learning."""
        learn = self.learning if learn is None else learn
        raw = np.asarray(x)
        if raw.size and (raw.dtype.kind not in "iu" or raw.min() < -32768 or raw.max() > 32767):
            raise ValueError("Emulator.run takes int16 values in Q.fx (QuantizedModel.quantize_inputs makes them), "
                             f"got {raw.dtype} values" + (f" in {raw.min()}..{raw.max()}" if raw.dtype.kind in "iu"
                                                         else ""))
        x = raw.astype(I64)
        B, T, _ = x.shape
        assert B == self.B, f"batch {B} != emulator batch {self.B}"
        out = {name: [] for name in keep}
        # inference leaves the weights alone: streams that all hold the same ones share one product (_synaptic_sum)
        if not learn and (B == 1 or np.array_equal(self.w, np.broadcast_to(self.w[:1], self.w.shape))):
            self._w_rows = np.ascontiguousarray(self.w[0].T)
        try:
            self._run_steps(x, labels, learn, out, T)
        finally:
            self._w_rows = None
        for name in keep:
            out[name] = np.stack(out[name], 1) if out[name] else np.zeros((B, 0))
        return out

    def _run_steps(self, x, labels, learn, out, T):
        if learn:
            out["weights"], out["grads"], out["update_steps"] = [], [], []
            labels = np.asarray(labels, dtype=I64)
        for t in range(T):
            g = self.learn_step(x[:, t], labels[:, t]) if learn else self.step(x[:, t])
            if "states" in out:
                out["states"].append(self.s)
            if "spikes" in out:
                out["spikes"].append(self.z)
            if "outputs" in out:
                out["outputs"].append(self.o)
            if learn and g is not None:
                self._record(out, g, t)
        if learn:
            g = self.end_chunk()
            if g is not None:
                self._record(out, g, T - 1)

    def _record(self, out, g, t):
        out["weights"].append((self.w.copy(), self.wo.copy()))
        out["grads"].append(g)
        out["update_steps"].append(t)
