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
    zword_t bit = (zword_t)(1u << (pos % ZWB)), *zw = &buf_z[pos / ZWB];
    if (pos == 0) {
#if HYPR_LEARN_HIDDEN
        for (n = 0; n < N * D; n++) s0[n] = s[n];
        for (n = 0; n < ZB; n++) buf_z0[n] = 0;
        for (n = 0; n < N; n++) buf_z0[n >> 3] |= (uint8_t)(z[n] << (n & 7));
#endif
        for (n = 0; n < N * ZW; n++) buf_z[n] = 0;
    }
#if HYPR_LEARN_HIDDEN
    for (n = 0; n < HYPR_N_IN; n++) buf_x[pos * HYPR_N_IN + n] = x[n];
#endif
    hypr_step(x);
    for (n = 0; n < N; n++)
        if (z[n]) zw[n * ZW] |= bit;
    softmax_eps(o, C, label, FS, EXP2_LUT, &buf_eps[pos * C]);
    if (++pos == LAM) hypr_end_chunk();
}

static const int64_t ZERO_D[D] = {0};    /* the column sums of a presynaptic neuron without spikes in the chunk */
/* sums[0] = sum_t qs_t, sums[1 + k] = sum_t ws_t[k] (k < d <= 3) over the steps t < nt where presynaptic neuron j
 * spiked: z_{t+1-first}[j] = 1 (first = 1: hidden, z_t enters step t + 1; first = 0: readout, z_{t+1} at step t + 1) */
static inline void spike_sums(int j, int first, int nt, int d, int64_t *sums)
{
    int64_t q = 0, w0 = 0, w1 = 0, w2 = 0;
    int wi, t;
    for (wi = 0; wi < ZW; wi++) {
        uint32_t bits = buf_z[j * ZW + wi];
        while (bits) {
            t = wi * ZWB + lowest_bit(bits) + first;
            bits &= bits - 1;
            if (t >= nt) break;
            q += qs[t];
            w0 += ws[t * d];
            if (d > 1) w1 += ws[t * d + 1];
            if (d > 2) w2 += ws[t * d + 2];
        }
    }
    sums[0] = q;
    sums[1] = w0;
    if (d > 1) sums[2] = w1;
    if (d > 2) sums[3] = w2;
}
#if HYPR_LEARN_HIDDEN
/* §9.2 replay of neuron i, its learning signals L_t (in col[], free after the replay) and the backward pass; the
 * update's phases stay separate functions: their results (q_0, Phi_0) then reach the per-synapse loop through
 * memory, as 32-bit operands of its products */
static NOINLINE void hidden_row_backward(int nt, int i, const uint32_t *act, int32_t *q0, int32_t *P, int64_t *sums)
{
    const int16_t *wr = &w[i * M];
    int t, k, c;
    /* §9.2 replay s_1..s_n of neuron i from s_0 and the buffered x_t, z_{t-1} (the weights are fixed within a chunk,
     * so these are the forward steps' states bit for bit). The recurrent part of the current, sum over the spiking
     * j of W_rec[j] (|.| < 2^15 N: int32), goes to col[t] one presynaptic neuron at a time, over its spike steps. */
    for (t = 0; t < nt; t++) col[t] = 0;
#if HYPR_RECURRENT
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
#else
    (void)act;
#endif
    UNROLL_D for (k = 0; k < D; k++) st[k] = s0[i * D + k];
    for (t = 0; t < nt; t++) {
        int64_t acc = dot16(wr, &buf_x[t * HYPR_N_IN], HYPR_N_IN) + ((int64_t)wr[HYPR_N_IN] + col[t]) * ONE_X;
        UNROLL_D for (k = 0; k < D; k++) st[(t + 1) * D + k] = st[t * D + k];
        neuron_step(i, &st[(t + 1) * D], zbit(t, i), sat32(align(acc, FW + FX, FS)));
    }
    /* §9.3 L_t = sat32(rshift_round(sum_c WO[c][i] eps'_c, FWO)), eps' = (1 - alpha_o) eps, |eps'| <= 2^20 */
    for (t = 0; t < nt; t++) {
        int64_t L = 0;
        for (c = 0; c < C; c++)
            L += mul32(wo[c * (N + 1) + i], (int32_t)rshift_round((int64_t)KBO[c] * buf_eps[t * C + c], FA));
        col[t] = (int32_t)sat32(rshift_round(L, FWO));
    }
    neuron_backward(nt, i, st, col, qs, ws, q0, P, sums);
}

/* §9.5-9.7 for neuron i's synapses, in column order: inputs (dense), bias (ONE_X at every step: its sums are
 * ONE_X times sums[]), recurrent spikes (ONE_X at the steps where z_{t-1}[j] = 1, none for most j). The bias and
 * spike columns go to syn_apply as 1 in Q.0 (fxa = 0) with the plain sums: the same values, since
 * rshift_round(v * 2^f, s) = rshift_round(v, s - f) exactly for s >= f (here f = FX, s = FX and FA + FX - FE). */
static NOINLINE void hidden_row_apply(int nt, int i, const uint32_t *act, const int32_t *q0, const int32_t *P,
                             const int64_t *sums)
{
    int16_t *wr = &w[i * M], *er = &e[i * M * D];
    const int64_t c0 = input_gain(i);
    int64_t b[D];
    int j, k, t;
    for (j = 0; j < HYPR_N_IN; j++) {
        int64_t g1 = 0;
        const int16_t *xj = &buf_x[j];
        UNROLL_D for (k = 0; k < D; k++) b[k] = 0;
        for (t = 0; t < nt; t++) {
            int32_t xt = xj[t * HYPR_N_IN];
            if (xt == 0) continue;
            g1 += (int64_t)qs[t] * xt;
            UNROLL_D for (k = 0; k < D; k++) b[k] += (int64_t)ws[t * D + k] * xt;
        }
        syn_apply(D, FX, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], g1, b, q0, P, c0);
    }
    for (j = HYPR_N_IN; j < M; j++) {   /* the bias, then the recurrent spike columns */
        const int64_t *cs = sums;
#if HYPR_RECURRENT
        int64_t spk[1 + D];
        if (j > HYPR_N_IN) {
            int n = j - HYPR_N_IN - 1;
            if (!((act[n >> 5] >> (n & 31)) & 1u)) {   /* no spike from n in the chunk: zero sums (constants) */
                syn_apply(D, 0, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], 0, ZERO_D, q0, P, c0);
                continue;
            }
            spike_sums(n, 1, nt, D, spk);
            if (zbit(0, n)) {   /* z_0 enters step 1 */
                spk[0] += qs[0];
                UNROLL_D for (k = 0; k < D; k++) spk[1 + k] += ws[k];
            }
            cs = spk;
        }
#endif
        syn_apply(D, 0, FE, SHIFT_HIDDEN, &wr[j], &er[j * D], cs[0], &cs[1], q0, P, c0);
    }
#if !HYPR_RECURRENT
    (void)act;
#endif
}
#endif

/* §9: the HYPR update of the buffered steps 1..pos, one neuron at a time, then one output at a time */
void hypr_end_chunk(void)
{
    int nt = (int)pos, t, c, j;
    uint32_t act[(N + 31) / 32];   /* presynaptic neurons with a spike in the chunk (z_0..z_n) */
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
    for (j = 0; j < N; j++) {
        int32_t P[D * D], q0[D];
        int64_t sums[D + 1];
        hidden_row_backward(nt, j, act, q0, P, sums);
        hidden_row_apply(nt, j, act, q0, P, sums);
    }
#endif
    /* §9.8 readout: d = 1, A = alpha_o, c = 1 - alpha_o, presynaptic [z_t, 1] in Q.0 */
    for (c = 0; c < C; c++) {
        int16_t *wr = &wo[c * (N + 1)], *er = &eo[c * (N + 1)];
        int32_t Po = (int32_t)1 << FA, q0o;
        int64_t qq = 0, sq = 0, sw = 0;
        for (t = nt - 1; t >= 0; t--) {
            qq = t == nt - 1 ? buf_eps[t * C + c] : sat32(buf_eps[t * C + c] + rshift_round((int64_t)KAO[c] * qq, FA));
            qs[t] = (int32_t)qq;
            ws[t] = (int32_t)sat32(rshift_round((int64_t)Po * KBO[c], FA));
            sq += qs[t];
            sw += ws[t];
            Po = (int32_t)sat32(rshift_round((int64_t)Po * KAO[c], FA));
        }
        q0o = (int32_t)sat32(rshift_round((int64_t)KAO[c] * qq, FA));
        for (j = 0; j <= N; j++) {   /* z_t[j]: 1 at its spike steps; the bias (j = N): 1 at every step */
            int64_t cs[2] = {sq, sw};
            if (j < N) {
                if (!((act[j >> 5] >> (j & 31)) & 1u)) {   /* no spike: zero sums (constants here) */
                    syn_apply(1, 0, FEO, SHIFT_READOUT, &wr[j], &er[j], 0, ZERO_D, &q0o, &Po, KBO[c]);
                    continue;
                }
                spike_sums(j, 0, nt, 1, cs);
            }
            syn_apply(1, 0, FEO, SHIFT_READOUT, &wr[j], &er[j], cs[0], &cs[1], &q0o, &Po, KBO[c]);
        }
    }
    pos = 0;
    n_updates++;
}

#endif
