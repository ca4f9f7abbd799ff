/* One SpiNNaker core image (docs/spinnaker.md): one timer callback and one packet callback serve its role(s), the
 * hidden role (spin_hidden.h) and/or the readout (spin_readout.h). What the core would send itself it delivers
 * locally, so every packet it sends crosses cores. The integer kernels are the single-core library's (hypr/).
 *
 * Included once, at the end of a generated core_<k>.c, after spin1_api.h, spin_core.h, hypr/hypr_fixed.h and:
 *   switches  HIDDEN_ROLE, READOUT_ROLE, LEARN_HIDDEN (hidden rows learn), RECURRENT, SPIKE_REMOTE (other cores
 *             need this core's spikes)
 *   sizes     CORE, K_HIDDEN (hidden cores), N_ALL, N_IN, C, D, M, LAM; N0, NL (hidden role: its neurons)
 *   settings  FX FW FWO FS FE PSI_SHIFT LR_MANT SHIFT_HIDDEN SHIFT_READOUT SEED, as in the single-core library
 *   data      CORE_N0 (first neuron of each hidden core), JUMP_START, JUMP_NEXT (the PRNG jumps, when it updates);
 *             hidden role: w, PSI_LUT, the neuron's constants and its kernel (hypr/neurons/<name>.h);
 *             readout role: wo, KAO, KBO, EXP2_LUT */
#ifndef SPIN_IMAGE_H
#define SPIN_IMAGE_H

#ifndef SPIN_CORE
#define SPIN_CORE spin_core           /* the host simulator renames it per core */
#endif
#define UPDATES (READOUT_ROLE || (HIDDEN_ROLE && LEARN_HIDDEN))   /* this core applies weight updates */
#define ONE_X ((int64_t)1 << FX)
#define ZB ((N_ALL + 7) / 8)          /* bytes of one spike vector (bits) */
#define SPIN_STR2(x) #x
#define SPIN_STR(x) SPIN_STR2(x)
enum { EV_STEP, EV_CHUNK, EV_HIDDEN };   /* user events: readout step, readout chunk end, hidden update */

static uint32_t prng_state = SEED;    /* §7.1 */
/* PRNG jump-ahead (xorshift32 is linear over GF(2)): column j = the state J draws after state 1 << j. The core
 * draws its own rows' stretch of the single core's sequence (§7.1; the readout's follows the last hidden core's):
 * from the seed skip the rows before it, and after its own draws skip to the same place in the next update. */
static uint32_t jump(const uint32_t *cols, uint32_t x)
{
    uint32_t r = 0;
    int j;
    for (j = 0; j < 32; j++)
        if ((x >> j) & 1u) r ^= cols[j];
    return r;
}

static int learning;
static uint32_t n_updates;

static inline int zbit(const uint8_t *b, int n) { return (b[n >> 3] >> (n & 7)) & 1; }
#if UPDATES
/* per-row scratch of an update (one neuron or one output at a time): q_t[u], Phi_t c, one presynaptic column */
#if HIDDEN_ROLE && LEARN_HIDDEN
static int32_t qs[LAM], ws[LAM * D], col[LAM];
#else
static int32_t qs[LAM], ws[LAM], col[LAM];
#endif
#include "hypr/hypr_row_update.h"

static void update_done(void)
{
    prng_state = jump(JUMP_NEXT, prng_state);
    n_updates++;
}
#endif
#if HIDDEN_ROLE
#include "spin_hidden.h"
#endif
#if READOUT_ROLE
#if LEARN_HIDDEN
/* learning signal L of idx = local neuron * LAM + step to hidden core k; this core's own neurons locally */
static void signal_out(int k, uint32_t idx, int32_t L)
{
#if HIDDEN_ROLE
    if (k == CORE) { (void)hidden_signal(idx, L); return; }
#endif
    spin1_send_mc_packet(SPIN_KEY(SPIN_L, k, idx), spin_s2u(L), WITH_PAYLOAD);
}
#endif
#include "spin_readout.h"

/* §9 at a chunk end or on the host's command: L to the hidden cores, then the updates (the PRNG order of §7.1) */
static void end_chunk(void)
{
    if (ro_pos == 0) return;
#if LEARN_HIDDEN
    readout_signals();
#if HIDDEN_ROLE
    hidden_update();
#endif
#endif
    readout_update();
    update_done();
}
#endif
#if HIDDEN_ROLE
/* one time step: the neurons, then their spikes (to this core's roles locally, to other cores by the router),
 * then "step done" to the readout */
static void timer_tick(uint32_t tick, uint32_t unused)
{
    int i;
    (void)tick; (void)unused;
    hidden_tick();
    for (i = 0; i < NL; i++)
        if (z[i]) {
            hidden_spike(N0 + i);
#if READOUT_ROLE
            readout_spike(N0 + i);
#endif
#if SPIKE_REMOTE
            spin1_send_mc_packet(SPIN_KEY(SPIN_SPIKE, CORE, i), 0, NO_PAYLOAD);
#endif
        }
#if READOUT_ROLE
    if (readout_sync()) spin1_trigger_user_event(EV_STEP, 0);
#else
    spin1_send_mc_packet(SPIN_KEY(SPIN_SYNC, CORE, 0), 0, NO_PAYLOAD);
#endif
}
#endif

static void packet_received(uint32_t key, uint32_t payload)
{
    uint32_t idx = SPIN_KEY_IDX(key);
    int n;
    switch (SPIN_KEY_TYPE(key)) {
    case SPIN_SPIKE:
        n = CORE_N0[SPIN_KEY_CORE(key)] + (int)idx;
#if HIDDEN_ROLE
        hidden_spike(n);
#endif
#if READOUT_ROLE
        readout_spike(n);
#endif
        break;
#if HIDDEN_ROLE
    case SPIN_IN:
        hidden_input(idx, spin_u2s(payload));
        break;
#if LEARN_HIDDEN && !READOUT_ROLE
    case SPIN_L:   /* the readout's core has its own neurons' L locally */
        if (hidden_signal(idx, spin_u2s(payload))) spin1_trigger_user_event(EV_HIDDEN, 0);
        break;
#endif
#endif
#if READOUT_ROLE
    case SPIN_SYNC:
        if (readout_sync()) spin1_trigger_user_event(EV_STEP, 0);
        break;
    case SPIN_LABEL:
        ro_label = spin_u2s(payload);
        break;
    case SPIN_CMD:
        spin1_trigger_user_event(EV_CHUNK, 0);
        break;
#endif
    default:
        break;
    }
}
#if UPDATES
static void user_event(uint32_t what, uint32_t unused)
{
    (void)unused;
#if READOUT_ROLE
    if (what == EV_STEP && readout_step()) end_chunk();
    if (what == EV_CHUNK) end_chunk();
#else
    if (what == EV_HIDDEN) { hidden_update(); update_done(); }
#endif
}
#endif

static void load(uint32_t seed, int learn)
{
#if HIDDEN_ROLE
    hidden_load();
#endif
#if READOUT_ROLE
    readout_load();
#endif
    prng_state = jump(JUMP_START, seed ? seed : SEED);
    learning = learn;
    n_updates = 0;
}

void c_main(void)
{
#if HIDDEN_ROLE
    spin1_callback_on(TIMER_TICK, timer_tick, 1);
#endif
    spin1_callback_on(MC_PACKET_RECEIVED, packet_received, -1);
    spin1_callback_on(MCPL_PACKET_RECEIVED, packet_received, -1);
#if UPDATES
    spin1_callback_on(USER_EVENT, user_event, 0);
#endif
    load(SEED, 0);
}

/* the descriptor through which the host loads, resets and reads the core (spin_core.h) */
#if HIDDEN_ROLE && READOUT_ROLE
#define SPIN_NAME "hidden" SPIN_STR(CORE) "+readout"
#elif HIDDEN_ROLE
#define SPIN_NAME "hidden" SPIN_STR(CORE)
#else
#define SPIN_NAME "readout"
#endif
#if HIDDEN_ROLE
#define SPIN_HIDDEN_W w, NL * M
#define SPIN_HIDDEN_STATE s, z
#define SPIN_HIDDEN_RANGE N0, NL
#else
#define SPIN_HIDDEN_W 0, 0
#define SPIN_HIDDEN_STATE 0, 0
#define SPIN_HIDDEN_RANGE 0, 0
#endif
#if READOUT_ROLE
#define SPIN_READOUT_W wo, C * (N_ALL + 1)
#define SPIN_OUTPUTS o
#else
#define SPIN_READOUT_W 0, 0
#define SPIN_OUTPUTS 0
#endif
const spin_core_t SPIN_CORE = {SPIN_NAME, c_main, load, SPIN_HIDDEN_W, SPIN_READOUT_W, SPIN_HIDDEN_STATE, SPIN_OUTPUTS,
                               &n_updates, SPIN_HIDDEN_RANGE};

#endif
