/* BRF (balanced resonate-and-fire) neuron kernel (docs/fixed-point.md §4; NumPy twin: the "brf" model of hypr_edge's
 * neuron registry). State s = [u, v, r] (D = 3): q = kg r + z_{t-1}, kbeta = kb - kc q (= delta beta); from the old
 * u, v: u <- u + kbeta u - kw v + kc I_t, v <- v + kw u + kbeta v, r <- q; z_t = h(s_t) > 0 with h = u - th - r.
 * Interface: see neurons/lif.h and firmware/hypr/README.md. */
#ifndef HYPR_NEURON_BRF_H
#define HYPR_NEURON_BRF_H

#define A_ZERO (1u << 7)   /* A[2][1] = 0 (r does not depend on v) */
#define G_ZERO (1u << 1)   /* g[1] = 0 (h does not depend on v) */

static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - TH - sn[2]; }
static inline int32_t input_gain(int n) { return K_KC[n]; }
/* q = gamma r + z_{t-1} (Q.FS) and delta*beta = kb - delta q (Q.FA), in 32-bit where the spec's ranges allow
 * (docs/firmware.md, "Exact shortcuts"): sat32(rshift_round(x, FA) + z 2^FS) = round_sat32(x + z 2^(FS+FA), FA),
 * since a multiple of 2^FA added before the shift adds its quotient exactly; with |kb| <= A_MAX,
 * sat_sym(kb - r, A_MAX) = sat_sym(kb - sat_sym(r, 2^30), A_MAX) for any r (past 2^30 both saturate alike) */
#define BRF_CLAMP ((int32_t)1 << 30)
static inline void brf_q_beta(int n, const int32_t *sn, int zp, int32_t *q, int32_t *kbeta)
{
    *q = round_sat32(mul32((int32_t)KG, sn[2]) + (int64_t)zp * ((int64_t)1 << (FS + FA)), FA);
    *kbeta = sat_sym32(K_KB[n] - round_sat_sym(mul32(K_KC[n], *q), FS, BRF_CLAMP), A_MAX);
}
/* u + rshift_round(x, FA) saturated = round_sat32(x + u 2^FA, FA), likewise for v */
static inline void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    const int32_t u = sn[0], v = sn[1];
    int32_t q, kbeta;
    brf_q_beta(n, sn, zp, &q, &kbeta);
    sn[0] = round_sat32(mul32(kbeta, u) - mul32(K_KW[n], v) + mul32(K_KC[n], (int32_t)cur)
                       + (int64_t)u * ((int64_t)1 << FA), FA);
    sn[1] = round_sat32(mul32(K_KW[n], u) + mul32(kbeta, v) + (int64_t)v * ((int64_t)1 << FA), FA);
    sn[2] = q;
}
/* A from the spec's formulas in 32-bit: |2^FA + kbeta| <= 2^28 + 2^24 and |kw| <= 2^24, so a - sat_sym(r, 2^30)
 * fits int32 and saturates to A_MAX as a - r does; sat_sym(-x, m) = -sat_sym(x, m); psi and dqr are int32 */
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    int32_t q, kbeta, one_kb, du, dv;
    const int32_t ps = (int32_t)psi, dqr = (int32_t)(KG - psi);
    brf_q_beta(n, sn, hp > 0, &q, &kbeta);
    one_kb = ((int32_t)1 << FA) + kbeta;
    du = round_sat_sym(mul32(K_KC[n], sn[0]), FS, A_MAX);
    dv = round_sat_sym(mul32(K_KC[n], sn[1]), FS, A_MAX);
    A[0] = sat_sym32(one_kb - round_sat_sym(mul32(du, ps), FA, BRF_CLAMP), A_MAX);
    A[1] = sat_sym32(-K_KW[n], A_MAX);
    A[2] = -round_sat_sym(mul32(du, dqr), FA, A_MAX);
    A[3] = sat_sym32(K_KW[n] - round_sat_sym(mul32(dv, ps), FA, BRF_CLAMP), A_MAX);
    A[4] = sat_sym32(one_kb, A_MAX);
    A[5] = -round_sat_sym(mul32(dv, dqr), FA, A_MAX);
    A[6] = sat_sym32(ps, A_MAX);
    A[7] = 0;
    A[8] = (int32_t)sat_sym(KG - psi, A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g)
{
    g[0] = (int32_t)psi;
    g[1] = 0;
    g[2] = (int32_t)-psi;
}

#endif
