/* ALIF neuron kernel (docs/fixed-point.md §4; NumPy twin: the "alif" model of hypr_edge's neuron registry).
 * State s = [u, a] (D = 2), threshold thr(a) = th0 + kba a; from the old state:
 * a <- kr a + kr1 z_{t-1}, u <- ka u + kc I_t - z_{t-1} thr(a_old); z_t = h(s_t) > 0 with h = u - thr(a).
 * Interface: see neurons/lif.h and firmware/hypr/README.md. */
#ifndef HYPR_NEURON_ALIF_H
#define HYPR_NEURON_ALIF_H

static inline int64_t alif_thr(int64_t a) { return sat32(TH0 + rshift_round(KBA * a, FA)); }
static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - alif_thr(sn[1]); }
static inline int32_t input_gain(int n) { return K_KC[n]; }
static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    int64_t thr_prev = alif_thr(sn[1]);
    int64_t a = sat32(rshift_round((int64_t)K_KR[n] * sn[1] + (int64_t)K_KR1[n] * ((int64_t)zp << FS), FA));
    int64_t u = sat32(rshift_round((int64_t)K_KA[n] * sn[0] + mul32(K_KC[n], (int32_t)cur), FA) - zp * thr_prev);
    sn[0] = (int32_t)u;
    sn[1] = (int32_t)a;
}
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    int64_t zp = hp > 0;
    int64_t thr = alif_thr(sn[1]);
    int64_t bt = sat_sym(rshift_round(KBA * thr, FS), A_MAX);
    int64_t b11 = rshift_round((int64_t)K_KR1[n] * KBA, FA);
    A[0] = (int32_t)sat_sym(K_KA[n] - rshift_round(mul32((int32_t)thr, (int32_t)psi), FS), A_MAX);
    A[1] = (int32_t)sat_sym(-zp * KBA + rshift_round(mul32((int32_t)bt, (int32_t)psi), FA), A_MAX);
    A[2] = (int32_t)sat_sym(rshift_round(mul32(K_KR1[n], (int32_t)psi), FA), A_MAX);
    A[3] = (int32_t)sat_sym(K_KR[n] - rshift_round(mul32((int32_t)b11, (int32_t)psi), FA), A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g)
{
    g[0] = (int32_t)psi;
    g[1] = (int32_t)sat_sym(-rshift_round(KBA * psi, FA), A_MAX);
}

#endif
