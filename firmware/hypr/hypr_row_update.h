/* The chunk update of one postsynaptic row's synapses (docs/fixed-point.md §9.5-9.7), shared by every engine: the
 * single-core library (hypr_update.h) and the SpiNNaker cores (firmware/spinnaker/). NumPy twin:
 * hypr_edge/fixed/emulator.py. Needs before inclusion: hypr_fixed.h, the model's LR_MANT (§9.7) and the engine's
 * PRNG state `uint32_t prng_state` (§7.1: the SGD steps draw from it in synapse order; a global, not an argument,
 * so that gcc sees no other pointer can reach it). The row's scratch (q_t, Phi_t c, one presynaptic column) comes in
 * as arguments. */
#ifndef HYPR_ROW_UPDATE_H
#define HYPR_ROW_UPDATE_H

/* §9.5-9.7 one synapse, from its column sums over the chunk: g1 = sum_t qs_t xa_t, b[k] = sum_t ws_t[k] xa_t (exact
 * int64, so any order and any way of skipping zero terms gives the same sums), xa in Q.fxa, and its eligibilities
 * e[k] (Q.fe); then the gradient, the SGD step with stochastic rounding (one draw of prng_state) and the new
 * eligibilities en[k], before saturation. d <= 3 state entries. Returns 0, and leaves en unset, for a synapse with
 * zero sums and zero eligibilities (a presynaptic neuron silent for a while): it keeps e = 0 and its weight, since
 * G = 0 and stochastic_shift(0, r, s) = 0; only its draw remains. */
static inline int syn_update(int d, int fxa, int fe, int shift, int16_t *wj, const int32_t *e, int64_t g1,
                             const int64_t *b, const int32_t *q0v, const int32_t *Pv, int64_t c0, int64_t *en)
{
    int k, jj;
    int64_t g2 = 0, G;
    if (g1 == 0 && b[0] == 0 && (d < 2 || b[1] == 0) && (d < 3 || b[2] == 0)
        && e[0] == 0 && (d < 2 || e[1] == 0) && (d < 3 || e[2] == 0)) {
        prng_state = xorshift32(prng_state);
        return 0;
    }
    g1 = rshift_round(sat_sym(rshift_round(g1, fxa), G1_MAX) * c0, FA);
    UNROLL_D for (k = 0; k < d; k++) g2 += (int64_t)q0v[k] * e[k];
    G = sat_sym(g1 + rshift_round(g2, fe), G_MAX);
    UNROLL_D for (k = 0; k < d; k++) {
        int64_t a = 0;
        UNROLL_D for (jj = 0; jj < d; jj++) a += (int64_t)Pv[k * d + jj] * e[jj];
        en[k] = rshift_round(a, FA) + rshift_round(b[k], FA + fxa - fe);
    }
    prng_state = xorshift32(prng_state);
    *wj = (int16_t)sat16(*wj - stochastic_shift(mul64_32(G, (int32_t)LR_MANT), prng_state, shift));
    return 1;
}

/* syn_update for eligibilities stored as int16 (every readout, and the hidden layer by default) ... */
static inline void syn_apply_e16(int d, int fxa, int fe, int shift, int16_t *wj, int16_t *ej, int64_t g1,
                                 const int64_t *b, const int32_t *q0v, const int32_t *Pv, int64_t c0)
{
    int32_t e[3] = {0, 0, 0};
    int64_t en[3];
    int k;
    UNROLL_D for (k = 0; k < d; k++) e[k] = ej[k];
    if (syn_update(d, fxa, fe, shift, wj, e, g1, b, q0v, Pv, c0, en))
        UNROLL_D for (k = 0; k < d; k++) ej[k] = (int16_t)sat16(en[k]);
}

/* ... and as int8 (the hidden layer of a model quantized with 8-bit eligibilities, §2.1): the same arithmetic, the
 * new value saturated to the int8 range */
static inline void syn_apply_e8(int d, int fxa, int fe, int shift, int16_t *wj, int8_t *ej, int64_t g1,
                                const int64_t *b, const int32_t *q0v, const int32_t *Pv, int64_t c0)
{
    int32_t e[3] = {0, 0, 0};
    int64_t en[3];
    int k;
    UNROLL_D for (k = 0; k < d; k++) e[k] = ej[k];
    if (syn_update(d, fxa, fe, shift, wj, e, g1, b, q0v, Pv, c0, en))
        UNROLL_D for (k = 0; k < d; k++) ej[k] = (int8_t)sat(en[k], INT8_MIN, INT8_MAX);
}

/* syn_apply(d, fxa, fe, shift, wj, ej, ...): the variant for the element type of ej (int16_t or elig_t), picked
 * at compile time from its size, so that the callers stay the same for both storage widths */
#define syn_apply(d, fxa, fe, shift, wj, ej, g1, b, q0v, Pv, c0)                                                  \
    (sizeof *(ej) == 1 ? syn_apply_e8(d, fxa, fe, shift, wj, (int8_t *)(void *)(ej), g1, b, q0v, Pv, c0)           \
                       : syn_apply_e16(d, fxa, fe, shift, wj, (int16_t *)(void *)(ej), g1, b, q0v, Pv, c0))

/* §9.5-9.7 a whole row of m synapses (weights wr, eligibilities er), in column order: fill(nt, j, col) writes the
 * presynaptic column j (xa_t, t < nt) into col, then syn_apply. (The single core's update sums its columns in
 * place instead: inputs densely, the bias once per row, spikes over their steps.) */
static inline void row_apply(int nt, int m, int d, int fxa, int fe, int shift, int16_t *wr, int16_t *er,
                             void (*fill)(int, int, int32_t *), const int32_t *q0v, const int32_t *Pv, int64_t c0,
                             const int32_t *qs, const int32_t *ws, int32_t *col)
{
    int j, k, t;
    for (j = 0; j < m; j++) {
        int64_t g1 = 0, b[3] = {0, 0, 0};
        fill(nt, j, col);
        for (t = 0; t < nt; t++) {
            int32_t xt = col[t];
            if (xt == 0) continue;
            g1 += (int64_t)qs[t] * xt;
            UNROLL_D for (k = 0; k < d; k++) b[k] += (int64_t)ws[t * d + k] * xt;
        }
        syn_apply(d, fxa, fe, shift, &wr[j], &er[j * d], g1, b, q0v, Pv, c0);
    }
}

#endif
