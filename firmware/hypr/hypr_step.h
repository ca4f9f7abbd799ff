/* The single-core library of hypr_model.h, part 1: its state, the API and the time step (docs/fixed-point.md §8).
 * Part 2, learning, is hypr_update.h. NumPy twin: hypr_edge/fixed/emulator.py.
 *
 * Included once, by the generated hypr_model.c, after hypr_fixed.h, the model's configuration (hypr_model.h's
 * HYPR_* sizes and switches; FX, FW, FWO, FS, SEED), its data (W_INIT, WO_INIT, KAO, KBO, the neuron's constants)
 * and its neuron kernel (neurons/<name>.h). Every static array here is counted by hypr_edge/codegen/memory.py. */
#ifndef HYPR_STEP_H
#define HYPR_STEP_H

#define N HYPR_N_HIDDEN
#define C HYPR_N_OUT
#define D HYPR_D
#define M HYPR_M
#define LAM HYPR_CHUNK
#define ONE_X ((int64_t)1 << FX)

/* §3 weights: in RAM when they learn */
#if HYPR_LEARN_HIDDEN
static int16_t w[N * M];
#else
#define w W_INIT
#endif
static int16_t wo[C * (N + 1)];

/* state */
static int32_t s[N * D];
static uint8_t z[N];
static int32_t o[C];
static unsigned pos;
static uint32_t n_updates;
static uint32_t prng_state = SEED;       /* §7.1 */
/* §9.1 eligibilities and chunk buffers: only what cannot be recomputed; spikes as bits */
#define ZB ((N + 7) / 8)                 /* bytes of one spike vector as bits */
/* z_1 .. z_n one neuron at a time (bit t - 1 of neuron n's words holds z_t[n]), in words as wide as the chunk
 * needs: the update sums a spike column over the few steps where it is 1 */
#if LAM <= 8
typedef uint8_t zword_t;
#define ZWB 8
#elif LAM <= 16
typedef uint16_t zword_t;
#define ZWB 16
#else
typedef uint32_t zword_t;
#define ZWB 32
#endif
#define ZW ((LAM + ZWB - 1) / ZWB)       /* words per neuron */
#if HYPR_LEARN_HIDDEN
static elig_t e[N * M * D];              /* int16 or int8 (§2.1): the model's elig_t */
static int32_t s0[N * D];                /* states at the chunk start */
static int16_t buf_x[LAM * HYPR_N_IN];   /* inputs x_t */
static uint8_t buf_z0[ZB];               /* z_0 as bits */
static int32_t st[(LAM + 1) * D];        /* one neuron's s_0 .. s_n, replayed in hypr_end_chunk */
#endif
/* Build option (-DHYPR_STORE_STATES=1): keep every neuron's forward states of the chunk, 4 (LAM + 1) N D bytes of
 * RAM, so that the update reads them instead of replaying the chunk; the same results (the weights are fixed within
 * a chunk). The update replays anyway when the chunk's states are not its own forward steps': after an inference
 * step inside the chunk, a loaded learning state or a tensor written through hypr_tensors (hypr_tensor_written). */
#ifndef HYPR_STORE_STATES
#define HYPR_STORE_STATES 0
#endif
#define STORE_STATES (HYPR_LEARN_HIDDEN && HYPR_STORE_STATES)
#if STORE_STATES
static int32_t rec_s[N * (LAM + 1) * D];  /* neuron n's s_0 .. s_LAM at rec_s[n (LAM + 1) D ..] */
static uint8_t rec_ok;                     /* rec_s holds this chunk's forward states so far */
#endif
static int16_t eo[C * (N + 1)];
static zword_t buf_z[N * ZW];            /* z_1 .. z_n */
static int32_t buf_eps[LAM * C];         /* eps_t */
/* per-row scratch of the update (one neuron or one output at a time): per step t the QW words q_t[u], (Phi_t c)[k]
 * (k < d; d = D for a hidden row, 1 for an output), side by side so that a step's operands load together; for a
 * hidden row col holds the recurrent part of the replayed currents, then the learning signals L_t */
#define QW (1 + D)
static int32_t qw[LAM * QW];
#if HYPR_LEARN_HIDDEN
static int32_t col[LAM];
#endif

/* z_t[n] for t = 0..pos (t = 0: the chunk start, learning all only) */
static inline int zbit(int t, int n)
{
#if HYPR_LEARN_HIDDEN
    if (t == 0) return (buf_z0[n >> 3] >> (n & 7)) & 1;
#endif
    return (buf_z[n * ZW + (t - 1) / ZWB] >> ((t - 1) % ZWB)) & 1;
}

/* §8 API ----------------------------------------------------------------------------------------------- */
void hypr_reset_state(void)
{
    unsigned i;
    for (i = 0; i < N * D; i++) s[i] = 0;
    for (i = 0; i < N; i++) z[i] = 0;
    for (i = 0; i < C; i++) o[i] = 0;
#if HYPR_LEARN_HIDDEN
    for (i = 0; i < N * M * D; i++) e[i] = 0;
#endif
    for (i = 0; i < C * (N + 1); i++) eo[i] = 0;
    pos = 0;
}

void hypr_init(void)
{
    unsigned i;
#if HYPR_LEARN_HIDDEN
    for (i = 0; i < N * M; i++) w[i] = W_INIT[i];
#endif
    for (i = 0; i < C * (N + 1); i++) wo[i] = WO_INIT[i];
    prng_state = SEED;
    n_updates = 0;
    hypr_reset_state();
}

void hypr_seed(uint32_t seed) { prng_state = seed ? seed : SEED; }
uint32_t hypr_updates(void) { return n_updates; }
unsigned hypr_chunk_pos(void) { return pos; }
const int32_t *hypr_outputs(void) { return o; }
const uint8_t *hypr_spikes(void) { return z; }
const int32_t *hypr_state(void) { return s; }

/* §8.2: I_t from [x_t, 1, z_{t-1}], neuron update, spikes, readout. Event-driven: the current adds only the
 * recurrent columns of the neurons that spiked at t-1 (a list made from z once per step), the readout only the
 * columns of those that spike at t; the input columns go through dot16 (two MACs per instruction on M4/M7). The
 * sum is the contract's exact int64 sum in another order: the bias and spike columns (each ONE_X in Q.FX) are
 * summed as plain weights in int32 (|.| <= 2^15 (N + 1) < 2^31) and scaled once. */
#if N <= 256
typedef uint8_t hypr_idx_t;
#else
typedef uint16_t hypr_idx_t;
#endif
static void step_all(const int16_t *x)
{
    int n, k, c, n_prev = 0, n_now = 0;
    hypr_idx_t prev[N], now[N];
#if HYPR_RECURRENT
    for (n = 0; n < N; n++)
        if (z[n]) prev[n_prev++] = (hypr_idx_t)n;
#else
    (void)prev; (void)n_prev;
#endif
    for (n = 0; n < N; n++) {
        const int16_t *wr = &w[n * M];
        int32_t bz = wr[HYPR_N_IN];
#if HYPR_RECURRENT
        const int16_t *wz = &wr[HYPR_N_IN + 1];
        for (k = 0; k < (n_prev & ~1); k += 2) bz += wz[prev[k]] + wz[prev[k + 1]];
        if (n_prev & 1) bz += wz[prev[n_prev - 1]];
#endif
        neuron_step(n, &s[n * D], z[n], sat32(align(dot16(wr, x, HYPR_N_IN) + (int64_t)bz * ONE_X, FW + FX, FS)));
        z[n] = h_of(&s[n * D]) > 0;
        if (z[n]) now[n_now++] = (hypr_idx_t)n;
    }
    for (c = 0; c < C; c++) {
        const int16_t *wr = &wo[c * (N + 1)];
        int32_t y = wr[N];
        for (k = 0; k < (n_now & ~1); k += 2) y += wr[now[k]] + wr[now[k + 1]];
        if (n_now & 1) y += wr[now[n_now - 1]];
        o[c] = (int32_t)sat32(rshift_round((int64_t)KAO[c] * o[c] + (int64_t)KBO[c] * sat32(align(y, FWO, FS)), FA));
    }
}

/* the states of the chunk so far are not its forward steps' alone: the update replays it (HYPR_STORE_STATES) */
void hypr_tensor_written(void)
{
#if STORE_STATES
    rec_ok = 0;
#endif
}

void hypr_step(const int16_t *x)
{
    hypr_tensor_written();   /* an inference step moves the states outside the chunk's steps */
    step_all(x);
}

/* §8.3 tensors by name */
const hypr_tensor_t hypr_tensors[] = {
    {"w_hidden", (void *)w, 2, 1, HYPR_LEARN_HIDDEN, N * M},
    {"w_readout", (void *)wo, 2, 1, 1, C * (N + 1)},
    {"state", (void *)s, 4, 1, 1, N * D},
    {"spikes", (void *)z, 1, 0, 0, N},
    {"outputs", (void *)o, 4, 1, 0, C},
#if HYPR_LEARN_HIDDEN
    {"elig_hidden", (void *)e, sizeof e[0], 1, 1, N * M * D},
#endif
    {"elig_readout", (void *)eo, 2, 1, 1, C * (N + 1)},
};
const unsigned hypr_n_tensors = sizeof(hypr_tensors) / sizeof(hypr_tensors[0]);

#endif
