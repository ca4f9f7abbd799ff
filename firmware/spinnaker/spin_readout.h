/* SpiNNaker core image, readout role: C outputs over all N_ALL hidden neurons (docs/spinnaker.md). Owns
 * [W_out | b_out] (wo, from the generated image), its eligibilities, o_t, the softmax and the learning signals. When
 * every hidden core has reported the step done it computes o_t and eps_t; at a chunk end it sends each hidden
 * neuron's core the learning signal L (computed with the readout weights of the chunk, through signal_out), then
 * updates its own weights. No packets here: spin_image.h delivers and sends.
 * Included once by spin_image.h, after the image's configuration and data. */
#ifndef SPIN_READOUT_H
#define SPIN_READOUT_H

static int32_t o[C];
static uint8_t ro_z[ZB];              /* z_t, arriving */
static unsigned ro_sync, ro_pos;
static int ro_label;
static int16_t eo[C * (N_ALL + 1)];
static uint8_t ro_buf_z[LAM * ZB];    /* z_1 .. z_n */
static int32_t buf_eps[LAM * C];

static void col_readout(int nt, int j, int32_t *col)   /* [z_t, 1] in Q.0 */
{
    int t;
    for (t = 0; t < nt; t++) col[t] = j < N_ALL ? zbit(&ro_buf_z[t * ZB], j) : 1;
}
#if LEARN_HIDDEN
/* §9.3 L_t[n] = sat32(rshift_round(sum_c WO[c][n] eps'_c, FWO)) for every step of the chunk, to n's core as
 * (local index * LAM + step) */
static void readout_signals(void)
{
    int t, c, k, n;
    for (t = 0; t < (int)ro_pos; t++) {
        int64_t eps_r[C];
        for (c = 0; c < C; c++) eps_r[c] = rshift_round((int64_t)KBO[c] * buf_eps[t * C + c], FA);
        for (k = 0; k < K_HIDDEN; k++)
            for (n = CORE_N0[k]; n < CORE_N0[k + 1]; n++) {
                int64_t L = 0;
                for (c = 0; c < C; c++) L += (int64_t)wo[c * (N_ALL + 1) + n] * eps_r[c];
                signal_out(k, (uint32_t)((n - CORE_N0[k]) * LAM + t), (int32_t)sat32(rshift_round(L, FWO)));
            }
    }
}
#endif
/* §9.8 for the readout rows: d = 1, A = alpha_o, c = 1 - alpha_o, presynaptic [z_t, 1] in Q.0 */
static void readout_update(void)
{
    int nt = (int)ro_pos, t, c;
    for (c = 0; c < C; c++) {
        int32_t Po = (int32_t)1 << FA, q0o;
        for (t = nt - 1; t >= 0; t--) {
            int64_t qq = buf_eps[t * C + c];
            if (t < nt - 1) qq = sat32(qq + rshift_round((int64_t)KAO[c] * qs[t + 1], FA));
            qs[t] = (int32_t)qq;
            ws[t] = (int32_t)sat32(rshift_round((int64_t)Po * KBO[c], FA));
            Po = (int32_t)sat32(rshift_round((int64_t)Po * KAO[c], FA));
        }
        q0o = (int32_t)sat32(rshift_round((int64_t)KAO[c] * qs[0], FA));
        row_apply(nt, N_ALL + 1, 1, 0, FEO, SHIFT_READOUT, &wo[c * (N_ALL + 1)], &eo[c * (N_ALL + 1)], col_readout,
                  &q0o, &Po, KBO[c], qs, ws, col);
    }
    ro_pos = 0;
}

/* all spikes of step t are in: §8.2 readout, §8.3 buffers; 1 when the chunk is full */
static int readout_step(void)
{
    int c, n, full = 0;
    for (c = 0; c < C; c++) {
        const int16_t *wr = &wo[c * (N_ALL + 1)];
        int64_t y = wr[N_ALL];
        for (n = 0; n < N_ALL; n++)
            if (zbit(ro_z, n)) y += wr[n];
        o[c] = (int32_t)sat32(rshift_round((int64_t)KAO[c] * o[c] + (int64_t)KBO[c] * sat32(align(y, FWO, FS)), FA));
    }
    if (learning) {
        for (n = 0; n < ZB; n++) ro_buf_z[ro_pos * ZB + n] = ro_z[n];
        softmax_eps(o, C, ro_label, FS, EXP2_LUT, &buf_eps[ro_pos * C]);
        full = ++ro_pos == LAM;
    }
    for (n = 0; n < ZB; n++) ro_z[n] = 0;
    return full;
}

static void readout_spike(int n) { ro_z[n >> 3] |= (uint8_t)(1u << (n & 7)); }

/* one hidden core's step is done; 1 when all K_HIDDEN are */
static int readout_sync(void)
{
    if (++ro_sync < K_HIDDEN) return 0;
    ro_sync = 0;
    return 1;
}

static void readout_load(void)
{
    int i;
    for (i = 0; i < C; i++) o[i] = 0;
    for (i = 0; i < ZB; i++) ro_z[i] = 0;
    for (i = 0; i < C * (N_ALL + 1); i++) eo[i] = 0;
    ro_sync = ro_pos = 0;
    ro_label = -1;
}

#endif
