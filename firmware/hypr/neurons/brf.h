/* BRF (balanced resonate-and-fire) neuron kernel (docs/fixed-point.md §4; NumPy twin: the "brf" model of hypr_edge's
 * neuron registry). State s = [u, v, r] (D = 3): q = kg r + z_{t-1}, kbeta = kb - kc q (= delta beta); from the old
 * u, v: u <- u + kbeta u - kw v + kc I_t, v <- v + kw u + kbeta v, r <- q; z_t = h(s_t) > 0 with h = u - th - r.
 * Interface: see neurons/lif.h and firmware/hypr/README.md. */
#ifndef HYPR_NEURON_BRF_H
#define HYPR_NEURON_BRF_H

static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - TH - sn[2]; }
static inline int32_t input_gain(int n) { return K_KC[n]; }
/* q = gamma r + z_{t-1} (Q.FS) and delta*beta = kb - delta q (Q.FA) */
static inline void brf_q_beta(int n, const int32_t *sn, int64_t zp, int64_t *q, int64_t *kbeta)
{
    *q = sat32(rshift_round(KG * sn[2], FA) + (zp << FS));
    *kbeta = sat_sym(K_KB[n] - rshift_round(mul32(K_KC[n], (int32_t)*q), FS), A_MAX);
}
static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    int64_t u = sn[0], v = sn[1], q, kbeta;
    brf_q_beta(n, sn, zp, &q, &kbeta);
    sn[0] = (int32_t)sat32(u + rshift_round(mul32((int32_t)kbeta, sn[0]) - mul32(K_KW[n], sn[1])
                                            + mul32(K_KC[n], (int32_t)cur), FA));
    sn[1] = (int32_t)sat32(v + rshift_round(mul32(K_KW[n], (int32_t)u) + mul32((int32_t)kbeta, (int32_t)v), FA));
    sn[2] = (int32_t)q;
}
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    int64_t q, kbeta, du, dv, dqr;
    const int64_t one = (int64_t)1 << FA;
    brf_q_beta(n, sn, hp > 0, &q, &kbeta);
    du = sat_sym(rshift_round((int64_t)K_KC[n] * sn[0], FS), A_MAX);
    dv = sat_sym(rshift_round((int64_t)K_KC[n] * sn[1], FS), A_MAX);
    dqr = KG - psi;
    A[0] = (int32_t)sat_sym(one + kbeta - rshift_round(mul32((int32_t)du, (int32_t)psi), FA), A_MAX);
    A[1] = (int32_t)sat_sym(-(int64_t)K_KW[n], A_MAX);
    A[2] = (int32_t)sat_sym(-rshift_round(mul32((int32_t)du, (int32_t)dqr), FA), A_MAX);
    A[3] = (int32_t)sat_sym(K_KW[n] - rshift_round(mul32((int32_t)dv, (int32_t)psi), FA), A_MAX);
    A[4] = (int32_t)sat_sym(one + kbeta, A_MAX);
    A[5] = (int32_t)sat_sym(-rshift_round(mul32((int32_t)dv, (int32_t)dqr), FA), A_MAX);
    A[6] = (int32_t)sat_sym(psi, A_MAX);
    A[7] = 0;
    A[8] = (int32_t)sat_sym(dqr, A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g)
{
    g[0] = (int32_t)psi;
    g[1] = 0;
    g[2] = (int32_t)-psi;
}

#endif
