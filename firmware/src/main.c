/* Command loop: decode frames from the UART, run the model through the generated API, answer every frame.
 * Strictly request/response: the host sends the next frame only after the reply, so polled UART input
 * cannot overflow while the model computes. */
#include <stdint.h>
#include <string.h>
#include "board.h"
#include "hypr_model.h"
#include "proto.h"
#include "state_cmd.h"
#include "store.h"

#ifndef HYPR_FW_BUF_BYTES
#define HYPR_FW_BUF_BYTES 4096u /* input buffer size; steps = bytes / (2 * n_in), at least 1, at most 256 */
#endif
#define BUF_STEPS_RAW (HYPR_FW_BUF_BYTES / (2u * HYPR_N_IN))
#define BUF_STEPS (BUF_STEPS_RAW < 1u ? 1u : BUF_STEPS_RAW > 256u ? 256u : BUF_STEPS_RAW)

static int16_t in_buf[BUF_STEPS][HYPR_N_IN];
static int32_t out_buf[BUF_STEPS][HYPR_N_OUT];
static uint32_t spike_counts[HYPR_N_HIDDEN];

static struct {
    uint32_t steps_infer, steps_learn, runs, spikes;
    uint64_t ticks_infer, ticks_learn;
} stats;

static hp_decoder_t dec;
static uint8_t reply[HP_MAX_PAYLOAD];
static uint8_t tx_wire[HP_WIRE_MAX]; /* last reply as sent: resent as is when the host retransmits */
static uint32_t tx_len;
static uint8_t last_seq;
static uint32_t last_crc;
static uint8_t have_last;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static void send_nack(uint8_t seq, uint8_t cmd, uint8_t reason, uint16_t detail, int cache)
{
    uint8_t p[4] = {reason, cmd, (uint8_t)detail, (uint8_t)(detail >> 8)};
    if (cache) {
        tx_len = hp_encode(tx_wire, seq, HP_CMD_NACK, p, 4);
        uart_write(tx_wire, tx_len);
    } else { /* framing errors: keep the reply cache of the last good frame */
        uint8_t w[1 + 2 * (HP_HEADER_BYTES + 4 + HP_CRC_BYTES)];
        uart_write(w, hp_encode(w, seq, HP_CMD_NACK, p, 4));
    }
}

static void clear_stats(void)
{
    memset(&stats, 0, sizeof stats);
    memset(spike_counts, 0, sizeof spike_counts);
}

static void count_spikes(uint32_t *run_spikes)
{
    const uint8_t *z = hypr_spikes();
    uint32_t i;
    for (i = 0; i < HYPR_N_HIDDEN; i++) {
        spike_counts[i] += z[i];
        *run_spikes += z[i];
    }
}

/* RUN: steps [start, start + n) of the input buffer; outputs recorded at the same buffer index. Only a run with
 * LEARN changes weights (its steps, its END_CHUNK); one without leaves a partly buffered chunk as it is.
 * The whole run is one measured region, started on a tick edge (under QEMU -icount a tick is a fixed number
 * of instructions, so the count is the same on every run). With HP_RUN_TIMING nothing is recorded: the
 * region then holds only the model's steps and the loop around them. */
static int cmd_run(const uint8_t *p, uint8_t *out)
{
    uint8_t flags = p[0];
    uint32_t start = rd16(p + 2), n = rd16(p + 4), i, spikes = 0, ticks, t0;
    int label = (int16_t)rd16(p + 6);
    int learn = (flags & HP_RUN_LEARN) != 0, record = (flags & HP_RUN_TIMING) == 0;
    if (flags & ~(uint32_t)(HP_RUN_LEARN | HP_RUN_RESET_STATE | HP_RUN_END_CHUNK | HP_RUN_TIMING))
        return -HP_NACK_BAD_ARG;
    if (start + n > BUF_STEPS || label < HP_NO_LABEL || label >= (int)HYPR_N_OUT)
        return -HP_NACK_BAD_ARG;
    /* Learning is explicit: END_CHUNK applies the buffered chunk's update, so only a LEARN run may carry it and
     * a run without LEARN never changes a weight (docs/protocol.md). Refused before anything runs. */
    if ((flags & HP_RUN_END_CHUNK) && !learn)
        return -HP_NACK_BAD_ARG;
    if (flags & HP_RUN_RESET_STATE)
        hypr_reset_state();
    t0 = ticks_sync();
    for (i = start; i < start + n; i++) {
        if (learn)
            hypr_learn_step(in_buf[i], label);
        else
            hypr_step(in_buf[i]);
        if (record) {
            memcpy(out_buf[i], hypr_outputs(), sizeof out_buf[0]);
            count_spikes(&spikes);
        }
    }
    if (flags & HP_RUN_END_CHUNK)
        hypr_end_chunk();
    ticks = TICKS_DIFF(t0, ticks_now());
    if (learn) {
        stats.steps_learn += n;
        stats.ticks_learn += ticks;
    } else {
        stats.steps_infer += n;
        stats.ticks_infer += ticks;
    }
    stats.runs++;
    stats.spikes += spikes;
    wr16(out, n);
    wr16(out + 2, 0);
    wr32(out + 4, spikes);
    wr32(out + 8, ticks);
    return 12;
}

static int cmd_tensor(uint8_t cmd, const uint8_t *p, uint32_t len, uint8_t *out)
{
    uint32_t idx = rd16(p), off = rd32(p + 4), count = rd16(p + 8), eb, bytes;
    const hypr_tensor_t *t;
    if (idx >= hypr_n_tensors)
        return -HP_NACK_BAD_ARG;
    t = &hypr_tensors[idx];
    eb = t->elem_bytes;
    bytes = count * eb;
    if (off > t->count || count > t->count - off || bytes > HP_MAX_PAYLOAD)
        return -HP_NACK_BAD_ARG;
    if (cmd == HP_CMD_READ_TENSOR) {
        if (len != 10)
            return -HP_NACK_BAD_LENGTH;
        memcpy(out, (const uint8_t *)t->data + off * eb, bytes);
        return (int)bytes;
    }
    if (len != 10 + bytes)
        return -HP_NACK_BAD_LENGTH;
    if (!t->writable)
        return -HP_NACK_READ_ONLY;
    memcpy((uint8_t *)t->data + off * eb, p + 10, bytes);
    hypr_tensor_written();
    return 0;
}

/* Run one command; returns the reply length, or -reason for a NACK. */
static int dispatch(uint8_t cmd, const uint8_t *p, uint32_t len, uint8_t *out)
{
    uint32_t a, b, i;
    switch (cmd) {
    case HP_CMD_HELLO: {
        static const char name[] = HYPR_STR(HYPR_BOARD_NAME);
        if (len != 0)
            return -HP_NACK_BAD_LENGTH;
        out[0] = HP_VERSION;
        out[1] = HYPR_SEMIHOSTING ? HP_HELLO_FLAG_SEMIHOSTING : 0;
        wr32(out + 2, HYPR_MODEL_HASH);
        wr16(out + 6, HYPR_N_IN);
        wr16(out + 8, HYPR_N_HIDDEN);
        wr16(out + 10, HYPR_N_OUT);
        wr16(out + 12, HYPR_CHUNK);
        wr16(out + 14, HP_MAX_PAYLOAD);
        wr16(out + 16, BUF_STEPS);
        wr16(out + 18, hypr_n_tensors);
        memcpy(out + 20, name, sizeof name - 1);
        return 20 + (int)sizeof name - 1;
    }
    case HP_CMD_TENSOR_INFO: {
        const hypr_tensor_t *t;
        uint32_t n;
        if (len != 2)
            return -HP_NACK_BAD_LENGTH;
        if ((a = rd16(p)) >= hypr_n_tensors)
            return -HP_NACK_BAD_ARG;
        t = &hypr_tensors[a];
        out[0] = t->elem_bytes;
        out[1] = t->is_signed;
        out[2] = t->writable;
        out[3] = 0;
        wr32(out + 4, t->count);
        n = (uint32_t)strlen(t->name);
        n = n > HP_MAX_PAYLOAD - 8 ? HP_MAX_PAYLOAD - 8 : n;
        memcpy(out + 8, t->name, n);
        return 8 + (int)n;
    }
    case HP_CMD_PING:
        memcpy(out, p, len);
        return (int)len;
    case HP_CMD_LOAD_INPUT:
        if (len < 4 || (len - 4) % 2)
            return -HP_NACK_BAD_LENGTH;
        a = rd32(p);
        b = (len - 4) / 2;
        if (a > BUF_STEPS * HYPR_N_IN || b > BUF_STEPS * HYPR_N_IN - a)
            return -HP_NACK_BAD_ARG;
        for (i = 0; i < b; i++)
            (&in_buf[0][0])[a + i] = (int16_t)rd16(p + 4 + 2 * i);
        return 0;
    case HP_CMD_RUN:
        if (len != 8)
            return -HP_NACK_BAD_LENGTH;
        return cmd_run(p, out);
    case HP_CMD_READ_OUTPUTS:
        if (len != 4)
            return -HP_NACK_BAD_LENGTH;
        a = rd16(p);
        b = rd16(p + 2);
        if (a + b > BUF_STEPS || b * sizeof out_buf[0] > HP_MAX_PAYLOAD)
            return -HP_NACK_BAD_ARG;
        for (i = 0; i < b * HYPR_N_OUT; i++)
            wr32(out + 4 * i, (uint32_t)(&out_buf[a][0])[i]);
        return (int)(4 * i);
    case HP_CMD_STATS:
        if (len != 0)
            return -HP_NACK_BAD_LENGTH;
        wr32(out, stats.steps_infer);
        wr32(out + 4, stats.steps_learn);
        wr32(out + 8, stats.runs);
        wr32(out + 12, stats.spikes);
        wr64(out + 16, stats.ticks_infer);
        wr64(out + 24, stats.ticks_learn);
        wr32(out + 32, HYPR_TICK_HZ);
        return 36;
    case HP_CMD_SPIKE_COUNTS:
        if (len != 4)
            return -HP_NACK_BAD_LENGTH;
        a = rd16(p);
        b = rd16(p + 2);
        if (a + b > HYPR_N_HIDDEN || 4 * b > HP_MAX_PAYLOAD)
            return -HP_NACK_BAD_ARG;
        for (i = 0; i < b; i++)
            wr32(out + 4 * i, spike_counts[a + i]);
        return (int)(4 * b);
    case HP_CMD_CLEAR_STATS:
        if (len != 0)
            return -HP_NACK_BAD_LENGTH;
        clear_stats();
        return 0;
    case HP_CMD_READ_TENSOR:
    case HP_CMD_WRITE_TENSOR:
        if (len < 10)
            return -HP_NACK_BAD_LENGTH;
        return cmd_tensor(cmd, p, len, out);
    case HP_CMD_RESET:
        if (len != 1)
            return -HP_NACK_BAD_LENGTH;
        if (p[0] == HP_RESET_STATE) {
            hypr_reset_state();
        } else if (p[0] == HP_RESET_FULL) {
            hypr_init();
            clear_stats();
            memset(in_buf, 0, sizeof in_buf);
            memset(out_buf, 0, sizeof out_buf);
        } else {
            return -HP_NACK_BAD_ARG;
        }
        return 0;
    case HP_CMD_EXIT:
        if (len != 1)
            return -HP_NACK_BAD_LENGTH;
        return HYPR_SEMIHOSTING ? 0 : -HP_NACK_UNSUPPORTED;
    default:
        return state_command(cmd, p, len, out);   /* learning state and store, else UNKNOWN_CMD */
    }
}

static void on_frame(void)
{
    uint8_t seq = hp_seq(&dec), cmd = hp_cmd(&dec);
    uint32_t crc = hp_frame_crc(&dec);
    int r;
    if (have_last && seq == last_seq && crc == last_crc) {
        uart_write(tx_wire, tx_len); /* retransmission: the reply got lost, do not run the command twice */
        return;
    }
    have_last = 1;
    last_seq = seq;
    last_crc = crc;
    if (dec.body[0] != HP_VERSION) {
        send_nack(seq, cmd, HP_NACK_BAD_VERSION, HP_VERSION, 1);
        return;
    }
    r = dispatch(cmd, hp_payload(&dec), hp_len(&dec), reply);
    if (cmd == HP_CMD_RUN && r > 0)
        store_after_run();   /* the learning state into non-volatile storage when due, before the reply (store.h) */
    if (r < 0) {
        send_nack(seq, cmd, (uint8_t)-r, 0, 1);
        return;
    }
    tx_len = hp_encode(tx_wire, seq, (uint8_t)(cmd | HP_REPLY_BIT), reply, (uint32_t)r);
    uart_write(tx_wire, tx_len);
    if (cmd == HP_CMD_EXIT)
        board_exit(hp_payload(&dec)[0]);
}

int main(void)
{
    board_init();
    hypr_init();
    store_boot();   /* the newest saved learning state, if the board keeps one */
    hp_decoder_init(&dec);
    /* No banner: with QEMU's server=on,wait=off anything sent before the host connects is lost; the host
     * speaks first (HELLO). */
    for (;;) {
        hp_event_t ev = hp_feed(&dec, uart_getc());
        if (ev == HP_EV_FRAME)
            on_frame();
        else if (ev == HP_EV_ERROR)
            send_nack(hp_seq(&dec), hp_cmd(&dec), dec.error, 0, 0);
    }
}
