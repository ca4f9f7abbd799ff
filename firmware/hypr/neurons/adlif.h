/* AdLIF neuron kernel (docs/fixed-point.md §4 AdLIF; NumPy twin: the "adlif" model of hypr_edge's neuron registry).
 * State s = [u, w] (D = 2). From the old state, with z = z_{t-1}: the membrane after the reset m = u (1 - z), the
 * adaptation current w' = w + kwa m; then u <- ka m + kc (I_t - w'), w <- kr w' + kwb z; z_t = h(s_t) > 0 with
 * h = u - th. Constants (Q.FA): ka = alpha, kc = 1 - alpha, kr = beta, kwa = (1 - beta) q a, kwb = (1 - beta) q b.
 * Every product is of two int32 operands (mul32): |.| < 2^57 (docs/fixed-point.md §5).
 * Interface: see neurons/lif.h and firmware/hypr/README.md. */
#ifndef HYPR_NEURON_ADLIF_H
#define HYPR_NEURON_ADLIF_H

#define G_ZERO (1u << 1)   /* g[1] = 0 (h does not depend on w) */

static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - TH; }
static inline int32_t input_gain(int n) { return K_KC[n]; }
static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    int32_t m = zp ? 0 : sn[0];                       /* the membrane after the reset of step t-1 */
    int32_t w = (int32_t)sat32(sn[1] + rshift_round(mul32(K_KWA[n], m), FA));
    sn[0] = (int32_t)sat32(rshift_round(mul32(K_KA[n], m) + mul32(K_KC[n], (int32_t)cur) - mul32(K_KC[n], w), FA));
    sn[1] = (int32_t)sat32(rshift_round(mul32(K_KR[n], w) + mul32(K_KWB[n], (int32_t)((int64_t)zp << FS)), FA));
}
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    /* dm/du = (1 - z) - u psi(h) (Q.FA); kum = ka - kc kwa = alpha - (1 - alpha) ka', krw = kr kwa = beta ka' */
    int64_t dm = (hp > 0 ? 0 : ((int64_t)1 << FA)) - sat_sym(rshift_round(mul32(sn[0], (int32_t)psi), FS), A_MAX);
    int64_t kum = K_KA[n] - rshift_round(mul32(K_KC[n], K_KWA[n]), FA);
    int64_t krw = rshift_round(mul32(K_KR[n], K_KWA[n]), FA);
    A[0] = (int32_t)sat_sym(rshift_round(mul32((int32_t)kum, (int32_t)dm), FA), A_MAX);
    A[1] = (int32_t)sat_sym(-(int64_t)K_KC[n], A_MAX);
    A[2] = (int32_t)sat_sym(rshift_round(mul32((int32_t)krw, (int32_t)dm), FA)
                            + rshift_round(mul32(K_KWB[n], (int32_t)psi), FA), A_MAX);
    A[3] = (int32_t)sat_sym(K_KR[n], A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g)
{
    g[0] = (int32_t)psi;
    g[1] = 0;
}

#endif
