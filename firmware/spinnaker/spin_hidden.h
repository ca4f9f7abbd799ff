/* SpiNNaker core image, hidden role: neurons N0 .. N0 + NL - 1 (docs/spinnaker.md). Owns their incoming weight rows
 * [W_in | b | W_rec] (w, from the generated image), eligibilities and chunk buffers; gets the inputs, the hidden
 * spikes and the learning signal L of its neurons. No packets here: spin_image.h delivers and sends.
 * Included once by spin_image.h, after the image's configuration, data and neuron kernel. */
#ifndef SPIN_HIDDEN_H
#define SPIN_HIDDEN_H

#include "hypr/hypr_backward.h"

static int32_t s[NL * D];
static uint8_t z[NL];                 /* this core's z_t */
static uint8_t zp[ZB], zn[ZB];        /* all hidden spikes: z_{t-1} (used now), z_t (arriving) */
static int16_t x_in[N_IN];            /* x_t, from input packets (absent = 0) */
#if LEARN_HIDDEN
static unsigned pos, l_count;
static int16_t e[NL * M * D];
static int32_t s0[NL * D];            /* states at the chunk start */
static int16_t buf_x[LAM * N_IN];     /* x_t */
static uint8_t buf_z[LAM * ZB];       /* z_0 .. z_{n-1}: the recurrent input of each step */
static int32_t l_buf[NL * LAM];       /* L_t of each local neuron (neuron-major), from the readout */
static int32_t st[(LAM + 1) * D];     /* one neuron's s_0 .. s_n, replayed at the chunk end */
#endif

/* §4 current: acc = b + sum_m W x + sum over spiking j of W_rec (exact in int64, any order) */
static int64_t current(const int16_t *wr, const int16_t *x, const uint8_t *zb)
{
    int m;
    int64_t acc = (int64_t)wr[N_IN] * ONE_X;
    for (m = 0; m < N_IN; m++) acc += (int64_t)wr[m] * x[m];
#if RECURRENT
    for (m = 0; m < N_ALL; m++)
        if (zbit(zb, m)) acc += (int64_t)wr[N_IN + 1 + m] * ONE_X;
#else
    (void)zb;
#endif
    return sat32(align(acc, FW + FX, FS));
}
#if LEARN_HIDDEN
/* §9.1 presynaptic column j over the chunk: xa_t = [x_t, 1, z_{t-1}] in Q.FX */
static void col_hidden(int nt, int j, int32_t *col)
{
    int t;
    for (t = 0; t < nt; t++)
        col[t] = j < N_IN ? buf_x[t * N_IN + j] : j == N_IN ? (int32_t)ONE_X
               : (int32_t)(zbit(&buf_z[t * ZB], j - N_IN - 1) * ONE_X);
}

/* §9.2-9.7 for this core's rows, with L from the readout: the single core's update restricted to rows N0.. */
static void hidden_update(void)
{
    int nt = (int)pos, i, k, t;
    for (i = 0; i < NL; i++) {
        int32_t P[D * D], q0[D];
        int64_t sums[D + 1];   /* for the single core's column shortcuts; row_apply sums every column itself */
        /* §9.2 replay s_1..s_n from s_0 (weights are fixed within a chunk: the forward steps' states bit for bit) */
        for (k = 0; k < D; k++) st[k] = s0[i * D + k];
        for (t = 0; t < nt; t++) {
            for (k = 0; k < D; k++) st[(t + 1) * D + k] = st[t * D + k];
            neuron_step(i, &st[(t + 1) * D], zbit(&buf_z[t * ZB], N0 + i),
                        current(&w[i * M], &buf_x[t * N_IN], &buf_z[t * ZB]));
        }
        neuron_backward(nt, i, st, &l_buf[i * LAM], qs, 1, ws, D, q0, P, sums);
        row_apply(nt, M, D, FX, FE, SHIFT_HIDDEN, &w[i * M], &e[i * M * D], col_hidden, q0, P, input_gain(i),
                  qs, ws, col);
    }
    pos = 0;
    l_count = 0;
}

/* L of (local neuron, step) idx = local neuron * LAM + step arrived; 1 when all of the chunk's are here */
static int hidden_signal(uint32_t idx, int32_t L)
{
    l_buf[idx] = L;
    return ++l_count == pos * NL;
}
#endif
/* one time step: I_t from x_t and z_{t-1}, neuron update; z[] holds the spikes to deliver */
static void hidden_tick(void)
{
    int i;
    for (i = 0; i < ZB; i++) { zp[i] = zn[i]; zn[i] = 0; }
#if LEARN_HIDDEN
    if (learning) {   /* §9.1 buffer what the chunk update replays */
        if (pos == 0)
            for (i = 0; i < NL * D; i++) s0[i] = s[i];
        for (i = 0; i < N_IN; i++) buf_x[pos * N_IN + i] = x_in[i];
        for (i = 0; i < ZB; i++) buf_z[pos * ZB + i] = zp[i];
        pos++;
    }
#endif
    for (i = 0; i < NL; i++) {
        neuron_step(i, &s[i * D], zbit(zp, N0 + i), current(&w[i * M], x_in, zp));
        z[i] = h_of(&s[i * D]) > 0;
    }
    for (i = 0; i < N_IN; i++) x_in[i] = 0;
}

static void hidden_spike(int n) { zn[n >> 3] |= (uint8_t)(1u << (n & 7)); }
static void hidden_input(uint32_t m, int32_t v) { x_in[m] = (int16_t)v; }

static void hidden_load(void)
{
    int i;
    for (i = 0; i < NL * D; i++) s[i] = 0;
    for (i = 0; i < NL; i++) z[i] = 0;
    for (i = 0; i < ZB; i++) zp[i] = zn[i] = 0;
    for (i = 0; i < N_IN; i++) x_in[i] = 0;
#if LEARN_HIDDEN
    for (i = 0; i < NL * M * D; i++) e[i] = 0;
    pos = l_count = 0;
#endif
}

#endif
