/* The backward pass of one hidden neuron over a chunk (docs/fixed-point.md §9.3-9.4), shared by every engine: the
 * single-core library (hypr_update.h) and the SpiNNaker cores (firmware/spinnaker/). NumPy twin:
 * hypr_edge/fixed/emulator.py. Needs before inclusion: hypr_fixed.h; the neuron kernel (neurons/<name>.h: h_of,
 * jacobian_at, g_at, input_gain); D (state variables per neuron); the model's PSI_LUT and PSI_SHIFT (§6.1). The
 * replayed states and the per-step results belong to the caller and come in as arguments. */
#ifndef HYPR_BACKWARD_H
#define HYPR_BACKWARD_H

/* §6.1 the surrogate derivative psi(h), Q.FA */
static inline int64_t psi_eval(int64_t h) { return lut_interp(PSI_LUT, h < 0 ? -h : h, PSI_SHIFT); }

/* §9.3-9.4 backward pass of neuron i: from its replayed states st[0..nt] and learning signals L[t] (step t + 1)
 * to qs[t] = q_t[u], ws[t * D + k] = (Phi_t c)[k] (and their sums: sums[0] = sum_t qs_t, sums[1 + k] =
 * sum_t ws_t[k]), q_0 and P = Phi_0. (inline: an engine whose hidden rows do not learn leaves it unused) */
static inline void neuron_backward(int nt, int i, const int32_t *st, const int32_t *L, int32_t *qs, int32_t *ws,
                                   int32_t *q0, int32_t *P, int64_t *sums)
{
    const int64_t c0 = input_gain(i);
    int32_t A[D * D], q[D], g[D];
    int64_t psi_next;
    int t, j, k, kk;
    /* t = n-1..0 (step t + 1), then t = -1 for Phi_0 and q_0. A holds A_{t+2} until step t has used it;
     * A_{n+1} = 0 and q_{n+1} = 0 make q_n = l_n (rshift_round(0, FA) = 0); psi(h(s_t)) serves A_{t+1}, then g_t.
     * The products are mul32: every operand is an int32 of the spec (P, A, q, L, g, c0). */
    UNROLL_D for (j = 0; j < D; j++)
        UNROLL_D for (k = 0; k < D; k++) {
            P[j * D + k] = j == k ? ((int32_t)1 << FA) : 0;   /* Phi_n = I */
            A[j * D + k] = 0;
        }
    UNROLL_D for (k = 0; k < D; k++) q[k] = 0;
    UNROLL_D for (k = 0; k <= D; k++) sums[k] = 0;
    psi_next = psi_eval(h_of(&st[nt * D]));
    for (t = nt - 1;; t--) {
        int64_t qn[D], hp, psi;
        if (t < nt - 1)   /* Phi_{t+1} = Phi_{t+2} A_{t+2}, one row of P at a time */
            UNROLL_D for (k = 0; k < D; k++) {
                int32_t row[D];
                UNROLL_D for (j = 0; j < D; j++) row[j] = P[k * D + j];
                UNROLL_D for (kk = 0; kk < D; kk++) {
                    int64_t acc = 0;
                    UNROLL_D for (j = 0; j < D; j++) acc += mul32(row[j], A[j * D + kk]);
                    P[k * D + kk] = (int32_t)sat32(rshift_round(acc, FA));
                }
            }
        if (t < 0) {      /* q_0 = A_1^T q_1 */
            UNROLL_D for (k = 0; k < D; k++) {
                int64_t acc = 0;
                UNROLL_D for (j = 0; j < D; j++) acc += mul32(A[j * D + k], q[j]);
                q0[k] = (int32_t)sat32(rshift_round(acc, FA));
            }
            break;
        }
        g_at(psi_next, g);
        UNROLL_D for (k = 0; k < D; k++) {
            int64_t acc = 0;
            UNROLL_D for (j = 0; j < D; j++) acc += mul32(A[j * D + k], q[j]);
            qn[k] = sat32(sat32(rshift_round(mul32(L[t], g[k]), FA)) + rshift_round(acc, FA));
        }
        UNROLL_D for (k = 0; k < D; k++) q[k] = (int32_t)qn[k];
        qs[t] = q[0];
        sums[0] += q[0];
        UNROLL_D for (k = 0; k < D; k++) {
            ws[t * D + k] = (int32_t)sat32(rshift_round(mul32(P[k * D], (int32_t)c0), FA));
            sums[1 + k] += ws[t * D + k];
        }
        hp = h_of(&st[t * D]);
        psi = psi_eval(hp);
        jacobian_at(i, &st[t * D], hp, psi, A);   /* A_{t+1} */
        psi_next = psi;
    }
}

#endif
