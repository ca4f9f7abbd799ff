/* The chunk update of one postsynaptic row's synapses (docs/fixed-point.md §9.5-9.7), shared by every engine: the
 * single-core library (hypr_update.h) and the SpiNNaker cores (firmware/spinnaker/). NumPy twin:
 * hypr_edge/fixed/emulator.py. Needs before inclusion: hypr_fixed.h, the model's LR_MANT (§9.7) and the engine's
 * PRNG state `uint32_t prng_state` (§7.1: the SGD steps draw from it in synapse order; a global, not an argument,
 * so that gcc sees no other pointer can reach it). The row's scratch (q_t, Phi_t c, one presynaptic column) comes in
 * as arguments. */
#ifndef HYPR_ROW_UPDATE_H
#define HYPR_ROW_UPDATE_H

#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
#include <arm_acle.h>
#endif
/* the synapse update inlined at every call: its d, formats and shift are then constants (gcc's size heuristics
 * otherwise keep one out-of-line copy that tests them per synapse) */
#if defined(__GNUC__) || defined(__clang__)
#define SYN_INLINE static inline __attribute__((always_inline))
#else
#define SYN_INLINE static inline
#endif

/* sat16 / sat(., INT8_MIN, INT8_MAX) of an int32: one SSAT where the core has it (v7-M) */
static inline int32_t sat16_32(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    return __ssat(v, 16);
#else
    return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
#endif
}
static inline int32_t sat8_32(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    return __ssat(v, 8);
#else
    return v < INT8_MIN ? INT8_MIN : v > INT8_MAX ? INT8_MAX : v;
#endif
}

/* r >> s where it lies in [-2^30, 2^30), else +-2^30 by the sign of r (0 <= s <= 63): the new eligibility's input
 * term then joins the carried term (|.| < 2^24) in int32 with the same saturated int16/int8 result (docs/firmware.md,
 * "Exact shortcuts"). For 2 <= s <= 31 one test of the high word: r >> s lies in that range exactly when the high
 * word of r lies in [-2^(s-2), 2^(s-2)). */
static inline int32_t shift_clamp30(int64_t r, int s)
{
    if (s >= 2 && s <= 31) {
        const uint32_t hi = (uint32_t)((uint64_t)r >> 32);
        if (LIKELY(hi + (1u << (s - 2)) < (1u << (s - 1))))
            return (int32_t)(((uint32_t)(uint64_t)r >> s) | (hi << (32 - s)));
        return r < 0 ? -(1 << 30) : 1 << 30;
    }
    return (int32_t)sat_sym(r >> s, (int64_t)1 << 30);
}

/* SMALL_SUMS(fe): the column sums of a column of 0s and 1s (fxa = 0: the bias, spikes), at most LAM int32 terms,
 * so |b| <= LAM 2^31 and |rshift_round(b, FA - fe)| <= LAM 2^(31 - FA + fe) + 1 <= 2^29 + 1 when 4 LAM <= 2^(FA - fe):
 * their input terms never reach the +-2^30 clamp, which can then be left out (0 where LAM is not defined) */
#ifdef LAM
#define SMALL_SUMS(fe) (((int64_t)LAM << 2) <= ((int64_t)1 << (FA - (fe))))
#else
#define SMALL_SUMS(fe) 0
#endif

/* the new eligibility's input term rshift_round(v, s), clamped to +-2^30 (|v| < 2^62) */
static inline int32_t elig_input_term(int64_t v, int s)
{
    return shift_clamp30(s == 0 ? v : v + ((int64_t)1 << (s - 1)), s);
}

/* sat16(w - stochastic_shift(v, r, s)) for |w| <= 2^15, |v| < 2^62 (G·lr_mant, §5): for s >= 32 the shifted value
 * lies within +-2^30, so the difference and its saturation are 32-bit (for s < 32 a clamp first measured slower) */
static inline int16_t sgd_step(int16_t w, int64_t v, uint32_t r, int s)
{
    if (s >= 32) return (int16_t)sat16_32(w - (int32_t)((v + (int64_t)((uint64_t)r << (s - 32))) >> s));
    return (int16_t)sat16(w - stochastic_shift(v, r, s));
}

/* §9.5-9.7 one synapse, from its column sums over the chunk: g1 = sum_t qs_t xa_t, b[k] = sum_t ws_t[k] xa_t (exact
 * int64, so any order and any way of skipping zero terms gives the same sums), xa in Q.fxa, and its eligibilities
 * e[k] (Q.fe); then the gradient, the SGD step with stochastic rounding (one draw of prng_state) and the new
 * eligibilities en[k] (int32, before their saturation to the storage width). d <= 3 state entries. Returns 0, and
 * leaves en unset, for a synapse with zero sums and zero eligibilities (a presynaptic neuron silent for a while): it
 * keeps e = 0 and its weight, since G = 0 and stochastic_shift(0, r, s) = 0; only its draw remains.
 * The carried term rshift_round(sum_j P[k][j] e[j], FA) lies within +-2^24 (|P| <= 2^31, |e| <= 2^15, d <= 3: the
 * sum < 2^48), so it is the low word of the sum started at 2^(FA-1), shifted. */
SYN_INLINE int syn_update(int d, int fxa, int fe, int shift, int16_t *wj, const int32_t *e, int64_t g1,
                             const int64_t *b, const int32_t *q0v, const int32_t *Pv, int32_t c0, int32_t *en,
                             uint32_t *rng)
{
    int k, jj;
    int64_t g2 = fe > 0 ? (int64_t)1 << (fe - 1) : 0, G;   /* rshift_round's 2^(fe-1) (the sum < 2^48) */
    int32_t bt[3] = {0, 0, 0};   /* (only d entries are used: the rest keeps gcc from warning) */
    if (g1 == 0 && b[0] == 0 && (d < 2 || b[1] == 0) && (d < 3 || b[2] == 0)
        && e[0] == 0 && (d < 2 || e[1] == 0) && (d < 3 || e[2] == 0)) {
        *rng = xorshift32(*rng);
        return 0;
    }
    /* the input terms first: the 64-bit sums b are then done with (their registers free for the products) */
    UNROLL_D for (k = 0; k < d; k++)
        bt[k] = fxa == 0 && SMALL_SUMS(fe) ? (int32_t)rshift_round(b[k], FA - fe) : elig_input_term(b[k], FA + fxa - fe);
    g1 = rshift_round(g1, fxa);
    if (LIKELY(g1 == (int32_t)g1))   /* within int32 <= G1_MAX: no saturation, one 32x32 product */
        g1 = (mul32((int32_t)g1, c0) + ROUND_HALF(FA)) >> FA;
    else
        g1 = rshift_round(sat_sym(g1, G1_MAX) * c0, FA);
    UNROLL_D for (k = 0; k < d; k++) g2 += (int64_t)q0v[k] * e[k];
    G = sat_sym(g1 + (g2 >> fe), G_MAX);
    UNROLL_D for (k = 0; k < d; k++) {
        int64_t a = ROUND_HALF(FA);
        UNROLL_D for (jj = 0; jj < d; jj++) a += (int64_t)Pv[k * d + jj] * e[jj];
        en[k] = (int32_t)(a >> FA) + bt[k];
    }
    *rng = xorshift32(*rng);
    *wj = sgd_step(*wj, mul64_32(G, (int32_t)LR_MANT), *rng, shift);
    return 1;
}

/* syn_update on eligibilities stored ebytes wide: 2 (int16: every readout, and the hidden layer by default) or 1
 * (int8: the hidden layer of a model quantized with 8-bit eligibilities, §2.1: the same arithmetic, the new value
 * saturated to the int8 range). ebytes is a constant at every call, so the other width's code is gone. */
SYN_INLINE void syn_apply_stored(int ebytes, int d, int fxa, int fe, int shift, int16_t *wj, void *ej, int64_t g1,
                                 const int64_t *b, const int32_t *q0v, const int32_t *Pv, int32_t c0, uint32_t *rng)
{
    int8_t *e8 = (int8_t *)ej;
    int16_t *e16 = (int16_t *)ej;
    int32_t e[3] = {0, 0, 0}, en[3];
    int k;
    UNROLL_D for (k = 0; k < d; k++) e[k] = ebytes == 1 ? e8[k] : e16[k];
    if (syn_update(d, fxa, fe, shift, wj, e, g1, b, q0v, Pv, c0, en, rng))
        UNROLL_D for (k = 0; k < d; k++) {
            if (ebytes == 1) e8[k] = (int8_t)sat8_32(en[k]);
            else e16[k] = (int16_t)sat16_32(en[k]);
        }
}

/* syn_apply(d, fxa, fe, shift, wj, ej, ...): syn_apply_stored for the element width of ej (int16_t or elig_t),
 * known at compile time, so that the callers stay the same for both storage widths */
#define syn_apply(d, fxa, fe, shift, wj, ej, g1, b, q0v, Pv, c0, rng)                                             \
    syn_apply_stored((int)sizeof *(ej), d, fxa, fe, shift, wj, (void *)(ej), g1, b, q0v, Pv, c0, rng)

/* syn_apply of a presynaptic column that is 0 at every step of the chunk (a neuron silent in it): g1 = 0, b = 0, so
 * with all-zero eligibilities only the draw remains (syn_update's first case). Tested here, before any product:
 * inside syn_update gcc starts the products before the test, which the many such synapses of a quiet network pay.
 * zero_b: d zero column sums (int64). */
#define syn_apply_silent(d, fe, shift, wj, ej, q0v, Pv, c0, rng, zero_b)                                            \
    do {                                                                                                         \
        if ((ej)[0] == 0 && ((d) < 2 || (ej)[1] == 0) && ((d) < 3 || (ej)[2] == 0))                              \
            *(rng) = xorshift32(*(rng));                                                                         \
        else                                                                                                     \
            syn_apply(d, 0, fe, shift, wj, ej, 0, zero_b, q0v, Pv, c0, rng);                                     \
    } while (0)

/* §9.5-9.7 a whole row of m synapses (weights wr, eligibilities er), in column order: fill(nt, j, col) writes the
 * presynaptic column j (xa_t, t < nt) into col, then syn_apply. (The single core's update sums its columns in
 * place instead: inputs densely, the bias once per row, spikes over their steps.) */
static inline void row_apply(int nt, int m, int d, int fxa, int fe, int shift, int16_t *wr, int16_t *er,
                             void (*fill)(int, int, int32_t *), const int32_t *q0v, const int32_t *Pv, int32_t c0,
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
        syn_apply(d, fxa, fe, shift, &wr[j], &er[j * d], g1, b, q0v, Pv, c0, &prng_state);
    }
}

#endif
