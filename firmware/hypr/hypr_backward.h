/* The backward pass of one hidden neuron over a chunk (docs/fixed-point.md §9.3-9.4), shared by every engine: the
 * single-core library (hypr_update.h) and the SpiNNaker cores (firmware/spinnaker/). NumPy twin:
 * hypr_edge/fixed/emulator.py. Needs before inclusion: hypr_fixed.h; the neuron kernel (neurons/<name>.h: h_of,
 * jacobian_at, g_at, input_gain); D (state variables per neuron); the model's PSI_LUT and PSI_SHIFT (§6.1). The
 * replayed states and the per-step results belong to the caller and come in as arguments. */
#ifndef HYPR_BACKWARD_H
#define HYPR_BACKWARD_H

/* A_ZERO (bit j D + k) and G_ZERO (bit k): the entries A[j][k] of jacobian_at and g[k] of g_at that are 0 for every
 * state, declared by the neuron kernel; the backward pass skips their products */
#ifndef A_ZERO
#define A_ZERO 0u
#endif
#ifndef G_ZERO
#define G_ZERO 0u
#endif
#define A_NONZERO(j, k) (!((A_ZERO >> ((j) * D + (k))) & 1u))
#define G_NONZERO(k) (!((G_ZERO >> (k)) & 1u))

/* §6.1 the surrogate derivative psi(h), Q.FA */
static inline int64_t psi_eval(int64_t h) { return lut_interp(PSI_LUT, h < 0 ? -h : h, PSI_SHIFT); }

/* §9.3-9.4 backward pass of neuron i: from its replayed states st[0..nt] and learning signals L[t] (step t + 1)
 * to qs[t * qstep] = q_t[u], ws[t * wstep + k] = (Phi_t c)[k] (and their sums: sums[0] = sum_t q_t[u],
 * sums[1 + k] = sum_t (Phi_t c)[k]), q_0 and P = Phi_0. The steps (constants at every call) let an engine keep
 * q_t and Phi_t c in two arrays or side by side in one. (inline: an engine whose hidden rows do not learn leaves it
 * unused) */
static inline void neuron_backward(int nt, int i, const int32_t *st, const int32_t *L, int32_t *qs, int qstep,
                                   int32_t *ws, int wstep, int32_t *q0, int32_t *P, int64_t *sums)
{
    const int32_t c0 = input_gain(i);
    int32_t A[D * D], q[D], g[D];
    int64_t psi_next, sq = 0, sw[D];
    int t, j, k, kk;
    /* t = n-1..0 (step t + 1), then t = -1 for Phi_0 and q_0. A holds A_{t+2} until step t has used it. The first
     * step's A_{n+1} = 0, q_{n+1} = 0 make q_n = l_n, Phi_n = I: A starts as I instead, which gives the same q_n
     * (q_{n+1} = 0) and Phi_n = sat32(rshift_round(I 2^FA, FA)) = I, so every step runs the same code.
     * psi(h(s_t)) serves A_{t+1}, then g_t. The products are mul32: every operand is an int32 of the spec (P, A, q,
     * L, g, c0). Entries that the kernel declares always zero (A_ZERO, G_ZERO; none on the diagonal) add nothing to
     * an exact sum and are skipped. Every rounded sum starts at 2^(FA-1) (rshift_round); q_t adds l_k 2^FA there:
     * l_k + rshift_round(x, FA) = rshift_round(x + l_k 2^FA, FA). */
    UNROLL_D for (j = 0; j < D; j++)
        UNROLL_D for (k = 0; k < D; k++) A[j * D + k] = P[j * D + k] = j == k ? ((int32_t)1 << FA) : 0;
    UNROLL_D for (k = 0; k < D; k++) q[k] = 0;
    psi_next = psi_eval(h_of(&st[nt * D]));
    for (t = nt - 1;; t--) {
        int64_t hp, psi;
        UNROLL_D for (k = 0; k < D; k++) {   /* Phi_{t+1} = Phi_{t+2} A_{t+2}, one row of P at a time */
            int32_t row[D], nrow[D];
            UNROLL_D for (j = 0; j < D; j++) row[j] = P[k * D + j];
            UNROLL_D for (kk = 0; kk < D; kk++) {
                int64_t acc = ROUND_HALF(FA);
                UNROLL_D for (j = 0; j < D; j++)
                    if (A_NONZERO(j, kk)) acc += mul32(row[j], A[j * D + kk]);
                nrow[kk] = shift_sat32(acc, FA);
            }
            UNROLL_D for (kk = 0; kk < D; kk++) P[k * D + kk] = nrow[kk];
        }
        if (t < 0) {      /* q_0 = A_1^T q_1 */
            UNROLL_D for (k = 0; k < D; k++) {
                int64_t acc = ROUND_HALF(FA);
                UNROLL_D for (j = 0; j < D; j++)
                    if (A_NONZERO(j, k)) acc += mul32(A[j * D + k], q[j]);
                q0[k] = shift_sat32(acc, FA);
            }
            break;
        }
        g_at(psi_next, g);
        {
            int32_t qn[D];
            UNROLL_D for (k = 0; k < D; k++) {
                int64_t acc = ROUND_HALF(FA);
                if (G_NONZERO(k)) acc += (int64_t)round_sat32(mul32(L[t], g[k]), FA) * ((int64_t)1 << FA);   /* l_k */
                UNROLL_D for (j = 0; j < D; j++)
                    if (A_NONZERO(j, k)) acc += mul32(A[j * D + k], q[j]);
                qn[k] = shift_sat32(acc, FA);
            }
            UNROLL_D for (k = 0; k < D; k++) q[k] = qn[k];
        }
        qs[t * qstep] = q[0];
        UNROLL_D for (k = 0; k < D; k++) ws[t * wstep + k] = round_sat32(mul32(P[k * D], c0), FA);
        hp = h_of(&st[t * D]);
        psi = psi_eval(hp);
        jacobian_at(i, &st[t * D], hp, psi, A);   /* A_{t+1} */
        psi_next = psi;
    }
    UNROLL_D for (k = 0; k < D; k++) sw[k] = 0;
    for (t = 0; t < nt; t++) {
        sq = add64_32(sq, qs[t * qstep]);
        UNROLL_D for (k = 0; k < D; k++) sw[k] = add64_32(sw[k], ws[t * wstep + k]);
    }
    sums[0] = sq;
    UNROLL_D for (k = 0; k < D; k++) sums[1 + k] = sw[k];
}

#endif
