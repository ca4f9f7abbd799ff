/* Host machine simulator: the SpiNNaker core images linked into one process, a deterministic multicast router
 * with the generated routing table, and lock-step time steps. Reads the host harness's input format and writes
 * its trace format (hypr_edge/codegen/verify.py), so the traces compare directly with the single-core emulator.
 *
 * One time step: the host injects input and label packets; every core's TIMER_TICK callback runs (core order);
 * then packets are delivered in FIFO order (by emission: source core order, then send order) until none is in
 * flight, each delivery followed by the receiving core's pending USER_EVENT. A step ends quiescent: this models
 * a timer period long enough for the step's traffic (spikes, learning signals, the chunk update) to settle.
 * A core delivers what it would send itself locally, so a route back to the sending core is refused: every
 * packet counted crosses cores.
 * Usage: spin_sim IN OUT [STATS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spin1_api.h"
#include "spin_core.h"

extern const spin_core_t *const SIM_CORES[];
extern const unsigned SIM_N_CORES, SIM_N_IN, SIM_D, SIM_C, SIM_LEARN_HIDDEN;
extern const spin_route_t SIM_ROUTES[];
extern const unsigned SIM_N_ROUTES;

#define MAX_CORES 256
#define HOST MAX_CORES            /* source index of host-injected packets */
typedef struct { uint32_t key, data; uint8_t load; uint16_t dest; } packet_t;

static callback_t cb[MAX_CORES][NUM_EVENTS];
static unsigned cur;              /* the core whose code runs now (or HOST) */
static packet_t *queue;
static size_t q_head, q_tail, q_cap;
static int user_pending[MAX_CORES];
static uint32_t user_arg[MAX_CORES][2];
static uint64_t sent[MAX_CORES + 1], recv[MAX_CORES], tick_sent[MAX_CORES + 1], max_tick_sent[MAX_CORES + 1];

void spin1_callback_on(uint32_t event_id, callback_t cback, int priority)
{
    (void)priority;
    if (event_id < NUM_EVENTS && cur < MAX_CORES) cb[cur][event_id] = cback;
}

uint32_t spin1_trigger_user_event(uint32_t arg0, uint32_t arg1)
{
    if (cur >= MAX_CORES || user_pending[cur]) return 0;   /* like spin1: refused while one is pending */
    user_pending[cur] = 1;
    user_arg[cur][0] = arg0;
    user_arg[cur][1] = arg1;
    return 1;
}

uint32_t spin1_send_mc_packet(uint32_t key, uint32_t data, uint32_t load)
{
    unsigned r, c;
    for (r = 0; r < SIM_N_ROUTES; r++)
        if ((key & SIM_ROUTES[r].mask) == SIM_ROUTES[r].key) break;
    if (r == SIM_N_ROUTES) {
        fprintf(stderr, "spin_sim: no route for key 0x%08x from core %u\n", (unsigned)key, cur);
        exit(3);
    }
    if (cur < MAX_CORES && ((SIM_ROUTES[r].dest >> cur) & 1u)) {
        fprintf(stderr, "spin_sim: key 0x%08x routed back to its source core %u\n", (unsigned)key, cur);
        exit(3);
    }
    sent[cur]++;
    tick_sent[cur]++;
    for (c = 0; c < SIM_N_CORES; c++) {
        if (!((SIM_ROUTES[r].dest >> c) & 1u)) continue;
        if (q_tail == q_cap) {
            q_cap = q_cap ? 2 * q_cap : 1024;
            queue = realloc(queue, q_cap * sizeof *queue);
            if (!queue) { fprintf(stderr, "spin_sim: out of memory\n"); exit(3); }
        }
        queue[q_tail].key = key;
        queue[q_tail].data = data;
        queue[q_tail].load = (uint8_t)(load != 0);
        queue[q_tail].dest = (uint16_t)c;
        q_tail++;
    }
    return 1;
}

static void run_user(unsigned c)
{
    while (user_pending[c]) {
        user_pending[c] = 0;
        cur = c;
        cb[c][USER_EVENT](user_arg[c][0], user_arg[c][1]);
    }
}

static void deliver_all(void)
{
    while (q_head < q_tail) {
        packet_t p = queue[q_head++];
        callback_t f = cb[p.dest][p.load ? MCPL_PACKET_RECEIVED : MC_PACKET_RECEIVED];
        if (!f) { fprintf(stderr, "spin_sim: core %u has no packet callback\n", (unsigned)p.dest); exit(3); }
        recv[p.dest]++;
        cur = p.dest;
        f(p.key, p.data);
        run_user(p.dest);
    }
    q_head = q_tail = 0;
}

static void end_tick(void)
{
    unsigned c;
    for (c = 0; c <= MAX_CORES; c++) {
        if (tick_sent[c] > max_tick_sent[c]) max_tick_sent[c] = tick_sent[c];
        tick_sent[c] = 0;
    }
}

static int rd(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

static const spin_core_t *readout;   /* the core with the readout role */

static uint32_t total_updates(void)
{
    return *readout->updates;   /* the readout's core updates at every chunk end */
}

static void put_weights(FILE *out)
{
    unsigned c;
    fputc('W', out);
    if (SIM_LEARN_HIDDEN)   /* hidden rows in core order = row-major W, then the readout's WO */
        for (c = 0; c < SIM_N_CORES; c++)
            if (SIM_CORES[c]->n_w) fwrite(SIM_CORES[c]->w, 2, SIM_CORES[c]->n_w, out);
    fwrite(readout->wo, 2, readout->n_wo, out);
}

/* the host's copy of the loaded weights of every core: hidden rows, then readout weights */
static void save_weights(int16_t **initial)
{
    unsigned c;
    for (c = 0; c < SIM_N_CORES; c++) {
        initial[c] = malloc(2 * (size_t)(SIM_CORES[c]->n_w + SIM_CORES[c]->n_wo) + 1);
        if (!initial[c]) { fprintf(stderr, "spin_sim: out of memory\n"); exit(3); }
        if (SIM_CORES[c]->n_w) memcpy(initial[c], SIM_CORES[c]->w, 2 * (size_t)SIM_CORES[c]->n_w);
        if (SIM_CORES[c]->n_wo)
            memcpy(initial[c] + SIM_CORES[c]->n_w, SIM_CORES[c]->wo, 2 * (size_t)SIM_CORES[c]->n_wo);
    }
}

static void restore_weights(int16_t *const *initial)
{
    unsigned c;
    for (c = 0; c < SIM_N_CORES; c++) {
        if (SIM_CORES[c]->n_w) memcpy(SIM_CORES[c]->w, initial[c], 2 * (size_t)SIM_CORES[c]->n_w);
        if (SIM_CORES[c]->n_wo)
            memcpy(SIM_CORES[c]->wo, initial[c] + SIM_CORES[c]->n_w, 2 * (size_t)SIM_CORES[c]->n_wo);
    }
}

int main(int argc, char **argv)
{
    FILE *in, *out;
    char magic[4];
    uint32_t n_streams, k, c;
    uint64_t steps_total = 0;
    int16_t **initial;
    int16_t *x;
    if (argc != 3 && argc != 4) { fprintf(stderr, "usage: %s IN OUT [STATS]\n", argv[0]); return 2; }
    if (SIM_N_CORES > MAX_CORES) { fprintf(stderr, "spin_sim: at most %d cores\n", MAX_CORES); return 2; }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (!in || !out) { fprintf(stderr, "spin_sim: cannot open files\n"); return 2; }
    if (!rd(in, magic, 4) || magic[0] != 'H' || magic[3] != '1' || !rd(in, &n_streams, 4)) {
        fprintf(stderr, "spin_sim: bad input header\n"); return 2;
    }
    x = malloc(sizeof *x * (SIM_N_IN + 1));
    initial = malloc(sizeof *initial * SIM_N_CORES);
    for (c = 0; c < SIM_N_CORES; c++) {   /* boot: register callbacks */
        cur = c;
        SIM_CORES[c]->c_main();
        if (SIM_CORES[c]->outputs) readout = SIM_CORES[c];
    }
    if (!readout) { fprintf(stderr, "spin_sim: no readout core\n"); return 2; }
    save_weights(initial);
    fwrite("HYO1", 1, 4, out);
    for (k = 0; k < n_streams; k++) {
        uint32_t steps, learn, seed, t, updates;
        if (!rd(in, &steps, 4) || !rd(in, &learn, 4) || !rd(in, &seed, 4)) { fprintf(stderr, "truncated\n"); return 2; }
        restore_weights(initial);   /* the host reloads the weights and restarts every core */
        for (c = 0; c < SIM_N_CORES; c++) {
            cur = c;
            SIM_CORES[c]->load(seed, (int)learn);
        }
        updates = total_updates();
        for (t = 0; t < steps; t++) {
            int32_t label;
            unsigned m;
            if (!rd(in, x, 2 * SIM_N_IN) || !rd(in, &label, 4)) { fprintf(stderr, "truncated\n"); return 2; }
            cur = HOST;
            for (m = 0; m < SIM_N_IN; m++)
                if (x[m]) spin1_send_mc_packet(SPIN_KEY(SPIN_IN, 0, m), spin_s2u(x[m]), WITH_PAYLOAD);
            if (learn) spin1_send_mc_packet(SPIN_KEY(SPIN_LABEL, 0, 0), spin_s2u(label), WITH_PAYLOAD);
            deliver_all();
            for (c = 0; c < SIM_N_CORES; c++) {
                cur = c;
                if (cb[c][TIMER_TICK]) cb[c][TIMER_TICK](t, 0);
                run_user(c);
            }
            deliver_all();
            end_tick();
            steps_total++;
            fputc('S', out);
            for (c = 0; c < SIM_N_CORES; c++)   /* the hidden cores come first, in neuron order */
                if (SIM_CORES[c]->state) fwrite(SIM_CORES[c]->state, 4, SIM_CORES[c]->n_local * SIM_D, out);
            for (c = 0; c < SIM_N_CORES; c++)
                if (SIM_CORES[c]->spikes) fwrite(SIM_CORES[c]->spikes, 1, SIM_CORES[c]->n_local, out);
            fwrite(readout->outputs, 4, SIM_C, out);
            if (total_updates() != updates) { updates = total_updates(); put_weights(out); }
        }
        if (learn) {
            cur = HOST;
            spin1_send_mc_packet(SPIN_KEY(SPIN_CMD, 0, 1), 0, WITH_PAYLOAD);
            deliver_all();
            end_tick();
            if (total_updates() != updates) put_weights(out);
        }
        fputc('E', out);
    }
    fclose(in);
    if (argc == 4) {
        FILE *st = fopen(argv[3], "w");
        if (!st) { fprintf(stderr, "spin_sim: cannot open %s\n", argv[3]); return 2; }
        fprintf(st, "steps %llu\n", (unsigned long long)steps_total);
        for (c = 0; c < SIM_N_CORES; c++)
            fprintf(st, "core %s sent %llu received %llu max_sent_per_step %llu\n", SIM_CORES[c]->name,
                    (unsigned long long)sent[c], (unsigned long long)recv[c], (unsigned long long)max_tick_sent[c]);
        fprintf(st, "host sent %llu\n", (unsigned long long)sent[HOST]);
        fclose(st);
    }
    for (c = 0; c < SIM_N_CORES; c++) free(initial[c]);
    free(initial);
    free(x);
    free(queue);
    return fclose(out) != 0;
}
