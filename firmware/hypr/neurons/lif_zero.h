/* LIF neuron kernel, reset to zero (docs/fixed-point.md §4; NumPy twin: the "lif_zero" model of hypr_edge's neuron
 * registry). State s = [u], the membrane before its reset: m = u (1 - z_{t-1}); u <- (ka m + kc I_t) >> FA;
 * z_t = h(s_t) > 0 with h = u - th. The interface is that of neurons/lif.h (firmware/hypr/README.md). */
#ifndef HYPR_NEURON_LIF_ZERO_H
#define HYPR_NEURON_LIF_ZERO_H

static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - TH; }
static inline int32_t input_gain(int n) { return K_KC[n]; }
static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    int64_t m = zp ? 0 : sn[0];                       /* the membrane after the reset of step t-1 */
    sn[0] = (int32_t)sat32(rshift_round((int64_t)K_KA[n] * m + mul32(K_KC[n], (int32_t)cur), FA));
}
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    /* dm/du = (1 - z) - u psi(h), Q.FA; A = ka dm/du */
    int64_t dm = (hp > 0 ? 0 : ((int64_t)1 << FA)) - sat_sym(rshift_round((int64_t)sn[0] * psi, FS), A_MAX);
    A[0] = (int32_t)sat_sym(rshift_round((int64_t)K_KA[n] * dm, FA), A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g) { g[0] = (int32_t)psi; }

#endif
