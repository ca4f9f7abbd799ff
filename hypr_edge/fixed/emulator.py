"""The NumPy twin of the generated C (docs/fixed-point.md): integer arithmetic only, vectorised over a batch of
independent streams, each with its own state, weights, eligibilities and PRNG (B independent devices).

Every function below names the section of the spec it implements and the C function that mirrors it.
"""
from __future__ import annotations

import numpy as np

from ..neurons.base import FixedConstants
from .qmodel import QuantizedModel
from .spec import (A_MAX, FA, FEO, G1_MAX, G_MAX, I32_MAX, elig_bounds, psi_eval, rshift_round, sat, sat32,
                   sat_sym, softmax_eps, stochastic_shift, xorshift32_draws)

I64 = np.int64
F64 = np.float64
I32_MIN = -(1 << 31)
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


def _exact_matmul(a, b, max_a: int | None = None, max_b: int | None = None, as_float: bool = False):
    """a @ b of integer arrays with the exact integer result. In float64 (BLAS, many times faster than NumPy's int64
    product) when no partial sum can reach 2^53: with |a| <= max_a, |b| <= max_b (measured if not given) and K
    terms, every partial sum is an integer of magnitude <= K max_a max_b, so each float64 addition (and FMA) is
    exact, whatever order or blocking BLAS uses; else in int64. as_float: return the float64 product as it is
    (integers below 2^52, so that a rounding offset can still be added exactly: _round_in_place), int64 otherwise."""
    k = a.shape[-1]
    if max_a is None:
        max_a = int(np.abs(a).max(initial=0))
    if max_b is None:
        max_b = int(np.abs(b).max(initial=0))
    if k * max_a * max_b < (EXACT_F64 >> as_float):
        out = np.matmul(a.astype(F64), b.astype(F64))
        return out if as_float else out.astype(I64)
    return np.matmul(a, b)


def _sat_in_place(v, lo: int, hi: int):
    """sat on a fresh array, in place."""
    return sat(v, lo, hi, out=v)


def _sat32_in_place(v):
    return sat(v, I32_MIN, I32_MAX, out=v)


def _round_in_place(v, s: int):
    """rshift_round on a fresh array, in place. A float64 array of integers below 2^52 (_exact_matmul as_float):
    floor((v + 2^(s-1)) 2^-s), every operation exact (a power-of-two scaling only moves the exponent)."""
    if s:
        v += 1 << (s - 1)
        if v.dtype == F64:
            v *= 2.0 ** -s
            np.floor(v, out=v)
        else:
            v >>= s
    return v


def _align_in_place(v, f_from: int, f_to: int):
    """spec.align on a fresh int64 array, in place."""
    if f_to >= f_from:
        v *= 1 << (f_to - f_from)
        return v
    return _round_in_place(v, f_from - f_to)


def _active_columns(xa):
    """The presynaptic columns of a chunk xa (B, n, M) that the per-synapse sums need: an index array of those not
    zero at any step, or, where they lie close together (inputs and bias, few spikes), the slice that spans them (the
    zero columns inside add 0), so that adding the sums into (..., M) arrays is a plain strided add."""
    nonzero = np.flatnonzero(xa.any(axis=(0, 1)))
    if len(nonzero) == 0:
        return slice(0, 0)
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    if hi - lo <= max(1.25 * len(nonzero), 0.8 * xa.shape[2]):
        return slice(lo, hi)
    return nonzero


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
        self._shared = False                    # every stream holds the same weights (inference in run)
        self._fw = None                         # float64 copies of the weights (_float_weights); None: rebuild
        self._work = {}                         # reused float64 buffers of the chunk update (_buffer)
        # sum_m w xa in float64: int16 weights, int16 Q.fx inputs and 2^fx bias and spike columns (fx <= 15), so
        # every partial sum is an integer of magnitude <= M 2^30 < 2^53 (M < 2^16, docs/fixed-point.md §5)
        assert qm.m << 30 < EXACT_F64, "more presynaptic columns than docs/fixed-point.md §5 allows"
        self.reset_state()
        self._xa = self.xa(np.zeros((batch, qm.n_in)))   # the step's presynaptic columns of both layers, reused
        self._zo = np.ones((batch, qm.n_hidden + 1), F64)  # ([x, 1, z] and [z, 1], float64: _step)

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
        self._fw = None                         # the weights were written
        self._recorded = -1                     # the loaded chunk's states are not recorded: replay them
        self._eps_done = self.pos               # the loaded buffer holds eps_1 .. eps_pos

    # §4 the neuron model, §9.2-9.3 its Jacobian and g: the model's integer kernels -------------------------
    def h(self, s):
        """Spike pre-activation h(s) in Q.fs (int64)."""
        return self.model.int_h(self.consts, s)

    def jacobian(self, s, hp, psi):
        """§9.2: A_t (..., d, d) in Q.FA from s_{t-1} (z_{t-1} = H(h(s_{t-1}))), with hp = h(s) and psi = psi(hp)."""
        return sat_sym(self.model.int_jacobian(self.consts, s, hp, psi), A_MAX)

    def g(self, psi):
        """§9.3: g_t = psi(h(s_t)) dh/ds in Q.FA, from psi = psi(h(s_t))."""
        return self.model.int_g(self.consts, psi)

    # §8.2 one step ---------------------------------------------------------------------------------------
    def xa(self, x, out=None):
        """Presynaptic column vector [x_t, 1, z_{t-1}] in Q.fx (§3.1), float64 (exact: integers below 2^16) for the
        float64 products of _synaptic_sum. out: a (B, M) array whose bias column holds 2^fx already."""
        one, n_in = 1 << self.fx, self.qm.n_in
        xa = out
        if xa is None:
            xa = np.empty((self.B, self.qm.m), F64)
            xa[:, n_in] = one
        xa[:, :n_in] = x
        if self.qm.recurrent:
            np.multiply(self.z, one, out=xa[:, n_in + 1:])
        return xa

    def step(self, x):
        """hypr_step: I_t, neuron update, spikes, readout. x: (B, n_in) int16 values in Q.fx."""
        if self.pos:      # an inference step inside a learning chunk: the chunk update replays, as the C does
            self._recorded = -1
        self._step(x)

    def _step(self, x):
        cur = self._current(self._synaptic_sum(self.xa(x, self._xa)))
        self.s = self.model.int_step(self.consts, self.s, self.z, cur)
        self.z = (self.h(self.s) > 0).astype(I64)
        zo = self._zo
        zo[:, :-1] = self.z
        woT = self._float_weights()[1]                # |wo| <= 2^15, N + 1 terms of 0/1: exact in float64
        y = (np.matmul(zo, woT) if woT.ndim == 2 else np.matmul(zo[:, None, :], woT)[:, 0]).astype(I64)  # Q.fwo
        ys = _sat32_in_place(_align_in_place(y, self.fwo, self.fs))
        o = self.kao * self.o
        ys *= self.kbo
        o += ys
        self.o = _sat32_in_place(_round_in_place(o, FA))

    def _current(self, acc):
        """I_t = sat32(align(acc)) in Q.fs from the float64 sums acc (Q.(fw+fx), exact integers)."""
        return _sat32_in_place(_align_in_place(acc.astype(I64), self.fw + self.fx, self.fs))

    def _float_weights(self):
        """(w^T, wo^T) in float64 for the exact products of the step: (B, M, N) and (B, N + 1, C), or, while every
        stream holds the same weights (inference, see run), one (M, N) and (N + 1, C). Kept until the weights change
        (_apply, load_state, run)."""
        if self._fw is None:
            if self._shared:
                self._fw = (np.ascontiguousarray(self.w[0].T, F64), np.ascontiguousarray(self.wo[0].T, F64))
            else:
                self._fw = (np.ascontiguousarray(self.w.transpose(0, 2, 1), F64),
                            np.ascontiguousarray(self.wo.transpose(0, 2, 1), F64))
        return self._fw

    def _synaptic_sum(self, xa):
        """sum_m w[n, m] xa[m] per stream: float64 matrix products of exact integers (see __init__), (..., N).
        xa: (B, M) or (B, T, M) float64. Streams that share one weight matrix make one product over the presynaptic
        columns that are not zero in any stream."""
        wT = self._float_weights()[0]
        if wT.ndim == 3:
            return np.matmul(xa[:, None, :], wT)[:, 0] if xa.ndim == 2 else np.matmul(xa, wT)
        cols = np.flatnonzero(xa.any(axis=0))
        if len(cols) < 0.8 * xa.shape[1]:
            return np.matmul(xa[:, cols], wT[cols])
        return np.matmul(xa, wT)

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
        if self.learn_hidden:
            one = 1 << self.fx
            cols = [self.buf_x[:, :n], np.full((B, n, 1), one, I64)]
            cols += [self.buf_z[:, :n] * one] if qm.recurrent else []
            xa = np.concatenate(cols, axis=2)                                           # xa_t, t = 1..n
            grads["hidden"] = self._hidden_update(xa, draws[:, :draws_h])
        # readout: the same update with d = 1, A = alpha_o, c = 1 - alpha_o, presynaptic [z_t, 1] in Q.0
        zo = np.concatenate([self.buf_z[:, 1:n + 1], np.ones((B, n, 1), I64)], axis=2)  # [z_t, 1]
        qo = np.empty((B, n, qm.n_out), I64)
        q = qo[:, n - 1] = self.buf_eps[:, n - 1]
        for t in range(n - 2, -1, -1):
            q = _round_in_place(self.kao * q, FA)
            q += self.buf_eps[:, t]
            qo[:, t] = _sat32_in_place(q)
        wso, Po = self._readout_phi(n)
        q0o = _sat32_in_place(_round_in_place(self.kao * q, FA))[..., None]
        grads["readout"] = self._apply(self.wo, self.eo[:, :, None, :], zo, 0, FEO, qo, q0o,
                                       np.broadcast_to(Po, (B, *Po.shape)), np.broadcast_to(wso, (B, *wso.shape)),
                                       self.kbo, draws[:, draws_h:], qm.shifts()["readout"])
        self.pos = 0
        self.updates += 1
        self._recorded = 0
        return grads

    def _hidden_update(self, xa, draws):
        """§9.2-9.4 for the hidden layer: A_t, l_t and the backward recursion of q and Phi, then _apply."""
        B, n, qm = self.B, xa.shape[1], self.qm
        N, d = qm.n_hidden, qm.d
        eps_r = _round_in_place(self.kbo * self.buf_eps[:, :n], FA)                    # (1 - alpha_o) eps
        L = _sat32_in_place(_round_in_place(np.matmul(eps_r, self.wo[:, :, :-1]), self.fwo))   # (B, n, N)
        states = self.chunk_states(xa)                                                  # s_0 .. s_n
        # h and psi of s_0 .. s_n once: A_t (from s_{t-1}) and l_t = L_t g_t (from s_t) of every step at once,
        # they do not depend on the recursion
        hp = self.h(states)
        psi = psi_eval(self.psi_t, hp, self.psi_sh)
        As = self.jacobian(states[:, :n], hp[:, :n], psi[:, :n])                      # (B, n, N, d, d)
        ls = _sat32_in_place(_round_in_place(L[..., None] * self.g(psi[:, 1:]), FA))   # (B, n, N, d)
        # the backward recursion over steps n .. 1 of the chunk: q_t = sat32(l_t + round(A_{t+1}^T q_{t+1})) and
        # Phi_t = sat32(round(Phi_{t+1} A_{t+1})) (Phi_n = I) multiply by the same A, so one product per step of
        # the stacked rows [q_t^T; Phi_t] (N, 1 + d, d), rounded and saturated alike. Array index i is step i + 1:
        # S[i] = [q_{i+1}^T; Phi_{i+1}], As[:, i] = A_{i+1}; S[n] = [(A_1^T q_1)^T; Phi_0] (no l added).
        S = np.empty((n + 1, B, N, 1 + d, d), I64)
        S[n - 1, :, :, 0] = ls[:, n - 1]
        S[n - 1, :, :, 1:] = np.eye(d, dtype=I64) << FA
        for t in range(n - 2, -2, -1):                                                # t = -1: S[-1] is S[n]
            St = _round_in_place(np.matmul(S[t + 1], As[:, t + 1], out=S[t]), FA)
            if t >= 0:
                St[:, :, 0] += ls[:, t]
            _sat32_in_place(St)
        qs = S[:n, :, :, 0, 0].transpose(1, 0, 2)                                      # (B, n, N)
        ws = S[:n, :, :, 1:, 0].transpose(1, 0, 2, 3) * self.c0[:, None]               # Phi_t c, (B, n, N, d)
        ws = _sat32_in_place(_round_in_place(ws, FA))
        q0, P = S[-1, :, :, 0], S[-1, :, :, 1:]                                        # A_1^T q_1, Phi_0
        return self._apply(self.w, self.e_t, xa, self.fx, self.fe, qs, q0, P, ws, self.c0, draws,
                           qm.shifts()["hidden"], qm.eligibility_bits)

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
        cur = self._current(self._synaptic_sum(xa.astype(F64)))                       # (B, n, N), all steps
        s, out = self.buf_s0, [self.buf_s0]
        for t in range(n):
            s = self.model.int_step(self.consts, s, self.buf_z[:, t], cur[:, t])
            out.append(s)
        return np.stack(out, 1)

    def _buffer(self, name: str, shape, ones_row: bool = False) -> np.ndarray:
        """A float64 work array (..., rows, M) reused from chunk to chunk (allocating one this large each chunk costs
        more than filling it); ones_row: its last row holds ones, written once."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape, F64)
            if ones_row:
                buf[..., -1, :] = 1.0
        return buf

    def _apply(self, w, eT, xa, fxa, fe, qs, q0, P, ws, c0, draws, shift, e_bits=16):
        """§9.5-9.7 (C: per row, one synapse at a time): gradient G from the chunk and e_0, SGD step with stochastic
        rounding, eligibility carry e_n = Phi_0 e_0 + sum_t (Phi_t c) xa_t, saturated to e_bits (§2.1: 16, or 8 for
        int8 hidden eligibilities). eT: the eligibilities as (B, N, d, M) (synapse index last). Updates w and eT in
        place; returns G. Each rounding is applied to the same sum as in the C, and every sum is exact:
        - Phi_0 e_0 and q0 e_0 are one float64 matrix product [Phi_0; q0] e_0: |Phi|, |q0| <= 2^31 (sat32) and
          |e| <= 2^15, so d terms stay below d 2^46 < 2^52, integers in float64 however BLAS sums them. Each row also
          holds its rounding offset (one more term, against a row of ones under e_0) and is scaled by 2^-shift, which
          changes only exponents: the product is (sum + 2^(shift-1)) 2^-shift exactly, and floor gives rshift_round;
        - sum_t q_t xa_t and sum_t (Phi_t c) xa_t: _exact_matmul (float64 where the bound allows it);
        - the products with c0 and lr_mant (up to 2^62) in int64.
        Presynaptic columns that are zero at every step (no input, no spike) add nothing to either sum, and a
        rounded 0 is 0: only the others are multiplied (_active_columns)."""
        B, n, N, d = ws.shape
        M = eT.shape[-1]
        assert d << 46 < EXACT_F64 >> 1
        tag = "h" if w is self.w else "o"
        cols = _active_columns(xa)
        xs = xa[:, :, cols]
        # a priori |q|, |Phi c| <= 2^31 and |xa| <= 2^15: below the bound for chunks up to 63 steps, else measured
        bounds = (1 << 31, 1 << 15) if n << 46 < EXACT_F64 >> 1 else (None, None)
        e1 = self._buffer(tag + "e1", (B, N, d + 1, M), ones_row=True)              # [e_0; 1]
        np.copyto(e1[:, :, :d], eT)
        rows = np.empty((B, N, d + 1, d + 1), F64)                                  # [Phi_0, 2^(FA-1); q0, 2^(fe-1)]
        rows[:, :, :d, :d] = P
        rows[:, :, :d, d] = 1 << (FA - 1)
        rows[:, :, :d] *= 2.0 ** -FA
        rows[:, :, d, :d] = q0
        rows[:, :, d, d] = (1 << fe) >> 1
        rows[:, :, d] *= 2.0 ** -fe
        both = np.matmul(rows, e1, out=self._buffer(tag + "both", (B, N, d + 1, M)))
        np.floor(both, out=both)
        # G = sat(round(q0 e_0, fe) + round(c0 sat(round(sum_t q_t xa_t, fxa)), FA), G_MAX)
        G = both[:, :, d].astype(I64)
        g1 = _exact_matmul(qs.transpose(0, 2, 1), xs, *bounds, as_float=True)          # sum_t q_t xa_t
        g1 = sat_sym(_round_in_place(g1, fxa), G1_MAX, out=g1).astype(I64)
        g1 *= c0[:, None]
        _round_in_place(g1, FA)
        G[..., cols] += g1
        _sat_in_place(G, -G_MAX, G_MAX)
        # e_n = sat(round(Phi_0 e_0, FA) + round(sum_t (Phi_t c) xa_t, FA + fxa - fe))
        np.copyto(eT, both[:, :, :d], casting="unsafe")                              # exact integers
        fresh = _exact_matmul(ws.reshape(B, n, N * d).transpose(0, 2, 1), xs, *bounds, as_float=True)
        fresh = _round_in_place(fresh, FA + fxa - fe).astype(I64).reshape(B, N, d, -1)
        eT[..., cols] += fresh
        if self.stats is not None and fe == self.fe and w is self.w:
            self.stats["e_max"] = max(self.stats["e_max"], int(np.abs(eT).max(initial=0)))
        _sat_in_place(eT, *elig_bounds(e_bits))
        # w = sat16(w - stochastic_shift(G lr_mant, r, shift))
        step = stochastic_shift(G * self.qm.lr_mant, draws.reshape(G.shape), shift)
        np.subtract(w, step, out=step)
        sat(step, -32768, 32767, out=w)
        self._fw = None
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
        # inference leaves the weights alone: streams that all hold the same ones share one product per layer
        if not learn and all(B == 1 or np.array_equal(v, np.broadcast_to(v[:1], v.shape)) for v in (self.w, self.wo)):
            self._shared, self._fw = True, None
        try:
            self._run_steps(x, labels, learn, out, T)
        finally:
            if self._shared:
                self._shared, self._fw = False, None
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
