/* LIF neuron kernel (docs/fixed-point.md §4; NumPy twin: the "lif" model of hypr_edge's neuron registry).
 * State s = [u] (D = 1): u <- ka u + kc I_t - z_{t-1} th; z_t = h(s_t) > 0 with h = u - th.
 *
 * Neuron-kernel interface (each firmware/hypr/neurons/<name>.h, <name> = its registry name; firmware/hypr/README.md):
 *   defines   static inline int64_t h_of(const int32_t *sn)       spike argument h(s) in Q.FS: z = h(s) > 0
 *             static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
 *                                                                 s_{t-1} -> s_t in place; zp = z_{t-1}, cur = I_t
 *                                                                 (Q.FS, within int32)
 *             static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
 *                                                                 A = ds'/ds (D x D, row-major, Q.FA, |A| <= A_MAX) of
 *                                                                 the step that leaves state sn, with hp = h_of(sn),
 *                                                                 psi = psi(hp) (Q.FA) given by the caller
 *             static inline void g_at(int64_t psi, int32_t *g)    g = dz/ds = psi dh/ds (D entries, Q.FA)
 *             static inline int32_t input_gain(int n)             ds_t[0]/dI_t (Q.FA): I enters state 0 only
 *   may define A_ZERO (bit j D + k), G_ZERO (bit k): the entries A[j][k], g[k] that are 0 for every state (off the
 *             diagonal of A); the backward pass (hypr_backward.h) skips their products
 *   may use   K_<NAME>[n]: the per-neuron int32 tables of the registry's constants (n = the core's local index);
 *             <NAME>: the registry's model-wide scalars (int64 constants); FA, FS, A_MAX (hypr_spec.h, the model's
 *             config); the primitives of hypr_fixed.h. Helpers of its own are static and prefixed with <name>_.
 *   must not  keep state or define anything non-static: the engines (single core, SpiNNaker cores) own all state. */
#ifndef HYPR_NEURON_LIF_H
#define HYPR_NEURON_LIF_H

static inline int64_t h_of(const int32_t *sn) { return (int64_t)sn[0] - TH; }
static inline int32_t input_gain(int n) { return K_KC[n]; }
static void neuron_step(int n, int32_t *sn, int zp, int64_t cur)
{
    sn[0] = (int32_t)sat32(rshift_round((int64_t)K_KA[n] * sn[0] + mul32(K_KC[n], (int32_t)cur), FA) - zp * TH);
}
static inline void jacobian_at(int n, const int32_t *sn, int64_t hp, int64_t psi, int32_t *A)
{
    (void)sn; (void)hp;
    A[0] = (int32_t)sat_sym(K_KA[n] - rshift_round(mul32((int32_t)TH, (int32_t)psi), FS), A_MAX);
}
static inline void g_at(int64_t psi, int32_t *g) { g[0] = (int32_t)psi; }

#endif
