/* The single-core library of hypr_model.h, part 2: learning. hypr_learn_step buffers a step (§9.1), hypr_end_chunk
 * applies the HYPR update of the buffered chunk (§9): per hidden neuron the replay, its backward pass and its
 * synapses; then the readout. NumPy twin: hypr_edge/fixed/emulator.py.
 * Included once, by the generated hypr_model.c, after hypr_step.h (whose state it uses); needs besides the model's
 * FE, PSI_LUT, PSI_SHIFT, EXP2_LUT, LR_MANT, SHIFT_HIDDEN and SHIFT_READOUT. */
#ifndef HYPR_UPDATE_H
#define HYPR_UPDATE_H

#include "hypr_backward.h"
#include "hypr_row_update.h"

void hypr_learn_step(const int16_t *x, int label)
{
    int n;
#if STORE_STATES
    int k;
#endif
    zword_t bit = (zword_t)(1u << (pos % ZWB)), *zw = &buf_z[pos / ZWB];
    if (pos == 0) {
#if HYPR_LEARN_HIDDEN
        for (n = 0; n < N * D; n++) s0[n] = s[n];
        for (n = 0; n < ZB; n++) buf_z0[n] = 0;
        for (n = 0; n < N; n++) buf_z0[n >> 3] |= (uint8_t)(z[n] << (n & 7));
#endif
        for (n = 0; n < N * ZW; n++) buf_z[n] = 0;
#if STORE_STATES
        rec_ok = 1;
        for (n = 0; n < N; n++)
            UNROLL_D for (k = 0; k < D; k++) rec_s[n * (LAM + 1) * D + k] = s[n * D + k];
#endif
    }
#if HYPR_LEARN_HIDDEN
    for (n = 0; n < HYPR_N_IN; n++) buf_x[pos * HYPR_N_IN + n] = x[n];
#endif
    step_all(x);
#if STORE_STATES
    for (n = 0; n < N; n++)
        UNROLL_D for (k = 0; k < D; k++) rec_s[(n * (LAM + 1) + pos + 1) * D + k] = s[n * D + k];
#endif
    for (n = 0; n < N; n++)
        if (z[n]) zw[n * ZW] |= bit;
    softmax_eps(o, C, label, FS, EXP2_LUT, &buf_eps[pos * C]);
    if (++pos == LAM) hypr_end_chunk();
}

static const int64_t ZERO_D[D] = {0};    /* the column sums of a presynaptic neuron without spikes in the chunk */
/* acc[k] += sum over the set bits b of `bits` of op[b (1 + d) + k] (k <= d <= 3: q_t[u], then (Phi_t c)[k]) */
static inline void step_sums(const int32_t *op0, uint32_t bits, int d, int64_t *acc)
{
    int64_t q = acc[0], w0 = acc[1], w1 = d > 1 ? acc[2] : 0, w2 = d > 2 ? acc[3] : 0;
    while (bits) {
        const int32_t *op = &op0[lowest_bit(bits) * (1 + d)];
        bits &= bits - 1;
        HIDE(op);
        q = add64_32(q, op[0]);
        w0 = add64_32(w0, op[1]);
        if (d > 1) w1 = add64_32(w1, op[2]);
        if (d > 2) w2 = add64_32(w2, op[3]);
    }
    acc[0] = q;
    acc[1] = w0;
    if (d > 1) acc[2] = w1;
    if (d > 2) acc[3] = w2;
}

/* sums[k] = sum_t qw[t (1 + d) + k] over the steps t < nt where presynaptic neuron j spiked: z_{t+1-first}[j] = 1
 * (first = 1: hidden, z_t enters step t + 1; first = 0: readout, z_{t+1} at step t + 1) */
static inline void spike_sums(int j, int first, int nt, int d, int64_t *sums)
{
    int wi, k;
    for (k = 0; k <= d; k++) sums[k] = 0;
    for (wi = 0; wi < ZW; wi++) {
        const int lim = nt - first - wi * ZWB;   /* the bits b < lim of word wi: steps t = wi ZWB + b + first < nt */
        uint32_t bits = buf_z[j * ZW + wi];
        if (lim < ZWB) bits &= lim > 0 ? (1u << lim) - 1 : 0;
        step_sums(&qw[(wi * ZWB + first) * (1 + d)], bits, d, sums);
    }
}
#if HYPR_LEARN_HIDDEN
/* the update keeps every step's eps' (§9.3), and the chunk's spikes by step (z_0 .. z_{n-1}, ZTW words each), on
 * the stack where each takes at most 2 KiB */
#define EPS_S_ON_STACK (LAM * C <= 512)
#define ZTW ((N + 31) / 32)
#define ZT_ON_STACK (HYPR_RECURRENT && LAM * ZTW <= 512)
/* and, where a neuron's spikes of the chunk fit one word, those that enter its steps: bit t of zin[n] is z_t[n]
 * (t < nt: enters step t + 1, the operands at qw[t QW]) */
#define ZIN_ON_STACK (HYPR_RECURRENT && ZW == 1 && N <= 512)

#if ZT_ON_STACK
/* zt: bit n % 32 of word t ZTW + n / 32 holds z_t[n], t < LAM (the replay's z_{t-1}, by step); returns zt */
static const uint32_t *spikes_by_step(uint32_t *zt)
{
    int j, t;
    for (j = 0; j < LAM * ZTW; j++) zt[j] = 0;
    for (j = 0; j < N; j++) {
        const uint32_t bit = 1u << (j & 31);
        int wi;
        if (zbit(0, j)) zt[j >> 5] |= bit;
        for (wi = 0; wi < ZW; wi++) {
            uint32_t bits = buf_z[j * ZW + wi];
            while (bits) {   /* bit b of word wi: z_{wi ZWB + b + 1}, kept while that step is < LAM */
                t = wi * ZWB + lowest_bit(bits) + 1;
                bits &= bits - 1;
                if (t < LAM) zt[t * ZTW + (j >> 5)] |= bit;
            }
        }
    }
    return zt;
}
#endif

/* §9.2 replay of neuron i's states s_0 .. s_n into st */
static inline void replay_states(int nt, int i, const uint32_t *act, const uint32_t *zt)
{
    const int16_t *wr = &w[i * M];
    int t, k;
    /* §9.2 replay s_1..s_n of neuron i from s_0 and the buffered x_t, z_{t-1} (the weights are fixed within a chunk,
     * so these are the forward steps' states bit for bit). The bias and recurrent part of the current, W_b plus the
     * sum over the spiking j of W_rec[j] (|.| < 2^15 (N + 1): int32), goes to col[t]: one step at a time over the
     * set bits of z_{t-1} (zt, the chunk's spikes by step), or without zt one presynaptic neuron at a time over its
     * spike steps. */
    for (t = 0; t < nt; t++) col[t] = wr[HYPR_N_IN];
#if HYPR_RECURRENT
    if (zt) {
        for (t = 0; t < nt; t++) {
            int32_t acc = col[t];
            UNROLL_16 for (k = 0; k < ZTW; k++) {
                uint32_t a = zt[t * ZTW + k];
                while (a) {
                    acc += wr[HYPR_N_IN + 1 + k * 32 + lowest_bit(a)];
                    a &= a - 1;
                }
            }
            col[t] = acc;
        }
    } else {
        for (k = 0; k < (N + 31) / 32; k++) {
            int j;
            uint32_t a = act[k];
            while (a) {
                int wi;
                j = k * 32 + lowest_bit(a);
                a &= a - 1;
                if (zbit(0, j)) col[0] += wr[HYPR_N_IN + 1 + j];
                for (wi = 0; wi < ZW; wi++) {
                    uint32_t bits = buf_z[j * ZW + wi];
                    while (bits) {
                        t = wi * ZWB + lowest_bit(bits) + 1;     /* z_t enters step t + 1 */
                        bits &= bits - 1;
                        if (t >= nt) break;
                        col[t] += wr[HYPR_N_IN + 1 + j];
                    }
                }
            }
        }
    }
#else
    (void)act;
    (void)zt;
#endif
    UNROLL_D for (k = 0; k < D; k++) st[k] = s0[i * D + k];
    for (t = 0; t < nt; t++) {
        int64_t acc = dot16(wr, &buf_x[t * HYPR_N_IN], HYPR_N_IN) + (int64_t)col[t] * ONE_X;
        UNROLL_D for (k = 0; k < D; k++) st[(t + 1) * D + k] = st[t * D + k];
        neuron_step(i, &st[(t + 1) * D], zbit(t, i), sat32(align(acc, FW + FX, FS)));
    }
}

/* neuron i's states s_0 .. s_n (the forward steps' with HYPR_STORE_STATES, else replayed into st) and its learning
 * signals L_t (in col[], free after the replay); the update's phases stay separate functions: the backward pass's
 * results (q_0, Phi_0) then reach the per-synapse loop through memory, as 32-bit operands of its products */
static NOINLINE const int32_t *hidden_row_replay(int nt, int i, const uint32_t *act, const uint32_t *zt,
                                                 const int32_t *eps_s)
{
    const int32_t *states = st;
    int32_t woi[C];
    int t, c;
#if STORE_STATES
    if (rec_ok) states = &rec_s[i * (LAM + 1) * D];
    else
#endif
    replay_states(nt, i, act, zt);
    /* §9.3 L_t = sat32(rshift_round(sum_c WO[c][i] eps'_c, FWO)), eps' = (1 - alpha_o) eps, |eps'| <= 2^20
     * (eps_s: every step's eps', computed once per chunk, or NULL: computed here) */
    for (c = 0; c < C; c++) woi[c] = wo[c * (N + 1) + i];
    for (t = 0; t < nt; t++) {
        int64_t L = 0;
        if (eps_s)
            UNROLL_16 for (c = 0; c < C; c++) L += mul32(woi[c], eps_s[t * C + c]);
        else
            for (c = 0; c < C; c++)
                L += mul32(woi[c], (int32_t)rshift_round((int64_t)KBO[c] * buf_eps[t * C + c], FA));
        col[t] = (int32_t)sat32(rshift_round(L, FWO));
    }
    return states;
}

/* §9.3-9.4 the backward pass of neuron i over its replayed states (a function of its own: profiles tell the two
 * phases apart) */
static NOINLINE void hidden_row_backward(int nt, int i, const int32_t *states, int32_t *q0, int32_t *P,
                                         int64_t *sums)
{
    neuron_backward(nt, i, states, col, qw, QW, qw + 1, QW, q0, P, sums);
}

/* §9.5-9.7 for neuron i's synapses, in column order: inputs (over the steps where x_t[j] != 0: the bits of
 * xnz[j * ZW ..]), bias (ONE_X at every step: its sums are ONE_X times sums[]), recurrent spikes (ONE_X at the
 * steps where z_{t-1}[j] = 1, none for most j). The bias and spike columns go to syn_apply as 1 in Q.0 (fxa = 0)
 * with the plain sums: the same values, since rshift_round(v * 2^f, s) = rshift_round(v, s - f) exactly for s >= f
 * (here f = FX, s = FX and FA + FX - FE). pre: the presynaptic spikes, zin (ZIN_ON_STACK) or else act. */
static NOINLINE void hidden_row_apply(int nt, int i, const uint32_t *pre, const zword_t *xnz, const int32_t *q0_in,
                                      const int32_t *P_in, const int64_t *sums)
{
    int16_t *wr = &w[i * M];
    elig_t *er = &e[i * M * D];
    const int32_t c0 = input_gain(i);
    int64_t b[D];
    int32_t P[D * D], q0[D];   /* copies in this frame: operands at fixed stack offsets, no pointer to keep */
    uint32_t rng = prng_state; /* in a register through the row (written back at its end) */
    int j, wi;
    for (j = 0; j < D * D; j++) P[j] = P_in[j];
    for (j = 0; j < D; j++) q0[j] = q0_in[j];
    for (j = 0; j < HYPR_N_IN; j++) {
        int64_t g1 = 0, b0 = 0, b1 = 0, b2 = 0;   /* in registers (b[] is in memory: it goes to syn_apply) */
        const int16_t *xj = &buf_x[j];
        for (wi = 0; wi < ZW; wi++) {
            uint32_t bits = xnz[j * ZW + wi];
            while (bits) {   /* the steps t = wi ZWB + bit with x_t[j] != 0, operands q_t[u], Phi_t c side by side */
                const int t = wi * ZWB + lowest_bit(bits);
                const int32_t *op = qw + t * QW;
                int32_t xt, q, w0;
                HIDE(op);   /* one address for the four operands */
                xt = xj[t * HYPR_N_IN];
                q = op[0];
                w0 = op[1];
                bits &= bits - 1;
                g1 += (int64_t)q * xt;
                b0 += (int64_t)w0 * xt;
                if (D > 1) b1 += (int64_t)op[2] * xt;
                if (D > 2) b2 += (int64_t)op[3] * xt;
            }
        }
        b[0] = b0;
        if (D > 1) b[1] = b1;
        if (D > 2) b[2] = b2;
        syn_apply(D, FX, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], g1, b, q0, P, c0, &rng);
    }
    for (j = HYPR_N_IN; j < M; j++) {   /* the bias, then the recurrent spike columns */
        const int64_t *cs = sums;
#if HYPR_RECURRENT
        int64_t spk[1 + D];
        if (j > HYPR_N_IN) {
            int n = j - HYPR_N_IN - 1, k;
#if ZIN_ON_STACK
            if (!pre[n]) {   /* no spike from n enters the chunk's steps: zero sums (constants) */
                syn_apply_silent(D, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], q0, P, c0, &rng, ZERO_D);
                continue;
            }
            for (k = 0; k <= D; k++) spk[k] = 0;
            step_sums(qw, pre[n], D, spk);
            (void)nt;
#else
            if (!((pre[n >> 5] >> (n & 31)) & 1u)) {   /* no spike from n in the chunk: zero sums (constants) */
                syn_apply_silent(D, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], q0, P, c0, &rng, ZERO_D);
                continue;
            }
            spike_sums(n, 1, nt, D, spk);
            if (zbit(0, n)) {   /* z_0 enters step 1 */
                UNROLL_D for (k = 0; k <= D; k++) spk[k] += qw[k];
            }
#endif
            cs = spk;
        }
#endif
        syn_apply(D, 0, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], cs[0], &cs[1], q0, P, c0, &rng);
    }
    prng_state = rng;
#if !HYPR_RECURRENT
    (void)pre;
    (void)nt;
#endif
}
#endif

/* §9: the HYPR update of the buffered steps 1..pos, one neuron at a time, then one output at a time */
void hypr_end_chunk(void)
{
    int nt = (int)pos, t, c, j;
    uint32_t act[(N + 31) / 32];   /* presynaptic neurons with a spike in the chunk (z_0..z_n) */
#if HYPR_LEARN_HIDDEN
    zword_t xnz[HYPR_N_IN * ZW];   /* bit t % ZWB of word t / ZWB of input j: x_t[j] != 0 (shared by every row) */
    const int32_t *eps_p = NULL;
    const uint32_t *zt_p = NULL;
#if ZT_ON_STACK
    uint32_t zt[LAM * ZTW];        /* bit n % 32 of word t ZTW + n / 32: z_t[n] (t < LAM: the replay's z_{t-1}) */
#endif
#if EPS_S_ON_STACK
    int32_t eps_s[LAM * C];        /* eps'_c of every step (§9.3), shared by every row's L_t */
#endif
#if ZIN_ON_STACK
    uint32_t zin[N];               /* the spikes that enter the chunk's steps, by neuron (ZIN_ON_STACK) */
#endif
#endif
    if (nt == 0) return;
    for (j = 0; j < (N + 31) / 32; j++) act[j] = 0;
    for (j = 0; j < N; j++) {
        int wi;
        zword_t any = 0;
        for (wi = 0; wi < ZW; wi++) any |= buf_z[j * ZW + wi];
#if HYPR_LEARN_HIDDEN
        any |= (zword_t)zbit(0, j);
#endif
        if (any) act[j >> 5] |= 1u << (j & 31);
    }
#if HYPR_LEARN_HIDDEN
    for (j = 0; j < HYPR_N_IN * ZW; j++) xnz[j] = 0;
    for (t = 0; t < nt; t++) {
        const zword_t bit = (zword_t)(1u << (t % ZWB));
        for (j = 0; j < HYPR_N_IN; j++)
            if (buf_x[t * HYPR_N_IN + j]) xnz[j * ZW + t / ZWB] |= bit;
    }
#if EPS_S_ON_STACK
    for (t = 0; t < LAM; t++)   /* all rows (those past nt go unused): gcc then sees the array written */
        for (c = 0; c < C; c++)
            eps_s[t * C + c] = (int32_t)rshift_round((int64_t)KBO[c] * buf_eps[t * C + c], FA);
    eps_p = eps_s;
#endif
#if ZT_ON_STACK
#if STORE_STATES
    if (!rec_ok)
#endif
    zt_p = spikes_by_step(zt);   /* for the replay (not needed when the update reads stored states) */
#endif
#if ZIN_ON_STACK
    for (j = 0; j < N; j++) {   /* z_0 at bit 0, z_t (bit t - 1 of buf_z) at bit t; steps past the chunk masked */
        const uint32_t bits = ((uint32_t)buf_z[j] << 1) | (uint32_t)zbit(0, j);
        zin[j] = nt >= 32 ? bits : bits & ((1u << nt) - 1);
    }
#endif
    for (j = 0; j < N; j++) {
        int32_t P[D * D], q0[D];
        int64_t sums[D + 1];
        hidden_row_backward(nt, j, hidden_row_replay(nt, j, act, zt_p, eps_p), q0, P, sums);
#if ZIN_ON_STACK
        hidden_row_apply(nt, j, zin, xnz, q0, P, sums);
#else
        hidden_row_apply(nt, j, act, xnz, q0, P, sums);
#endif
    }
#endif
    /* §9.8 readout: d = 1, A = alpha_o, c = 1 - alpha_o, presynaptic [z_t, 1] in Q.0 */
    for (c = 0; c < C; c++) {
        int16_t *wr = &wo[c * (N + 1)], *er = &eo[c * (N + 1)];
        int32_t Po = (int32_t)1 << FA, q0o;
        int64_t qq = 0, sq = 0, sw = 0;
        for (t = nt - 1; t >= 0; t--) {
            qq = t == nt - 1 ? buf_eps[t * C + c] : sat32(buf_eps[t * C + c] + rshift_round((int64_t)KAO[c] * qq, FA));
            qw[2 * t] = (int32_t)qq;
            qw[2 * t + 1] = (int32_t)sat32(rshift_round((int64_t)Po * KBO[c], FA));
            sq += qw[2 * t];
            sw += qw[2 * t + 1];
            Po = (int32_t)sat32(rshift_round((int64_t)Po * KAO[c], FA));
        }
        q0o = (int32_t)sat32(rshift_round((int64_t)KAO[c] * qq, FA));
        for (j = 0; j <= N; j++) {   /* z_t[j]: 1 at its spike steps; the bias (j = N): 1 at every step */
            int64_t cs[2] = {sq, sw};
            if (j < N) {
                if (!((act[j >> 5] >> (j & 31)) & 1u)) {   /* no spike: zero sums (constants here) */
                    syn_apply_silent(1, FEO, SHIFT_READOUT, &wr[j], &er[j], &q0o, &Po, KBO[c], &prng_state, ZERO_D);
                    continue;
                }
                spike_sums(j, 0, nt, 1, cs);
            }
            syn_apply(1, 0, FEO, SHIFT_READOUT, &wr[j], &er[j], cs[0], &cs[1], &q0o, &Po, KBO[c], &prng_state);
        }
    }
    pos = 0;
    n_updates++;
}

#endif
