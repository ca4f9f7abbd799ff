/* Board-protocol commands of the learning state and its store (docs/protocol.md): STATE_INFO, READ_STATE,
 * WRITE_STATE, COMMIT_STATE, STORE. main.c's dispatcher hands them here. A model library without the state API
 * (no HYPR_STATE_BYTES in its hypr_model.h) answers them UNSUPPORTED. */
#include <string.h>
#include "hypr_model.h"
#include "proto.h"
#include "state_cmd.h"
#include "store.h"

#ifdef HYPR_STATE_BYTES
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (get16(p + 2) << 16); }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static int store_reply(uint8_t *out)
{
    store_info_t s;
    store_info(&s);
    put32(out, s.nv_bytes);
    put32(out + 4, s.slot_bytes);
    put32(out + 8, s.seq);
    put32(out + 12, s.every);
    put32(out + 16, s.saves);
    out[20] = (uint8_t)((s.slot_bytes ? HP_STORE_FLAG_READY : 0) | (s.restored ? HP_STORE_FLAG_RESTORED : 0));
    out[21] = (uint8_t)s.result;
    return 22;
}

#endif

int state_command(uint8_t cmd, const uint8_t *p, uint32_t len, uint8_t *out)
{
    if (cmd != HP_CMD_STATE_INFO && cmd != HP_CMD_READ_STATE && cmd != HP_CMD_WRITE_STATE &&
        cmd != HP_CMD_COMMIT_STATE && cmd != HP_CMD_STORE)
        return -HP_NACK_UNKNOWN_CMD;
#ifdef HYPR_STATE_BYTES
    {
        static uint8_t head[HYPR_STATE_HEAD];   /* a streamed load's header, for COMMIT_STATE */
        uint32_t off, n, i;
        switch (cmd) {
        case HP_CMD_STATE_INFO:
            if (len != 0)
                return -HP_NACK_BAD_LENGTH;
            put32(out, HYPR_STATE_BYTES);
            put32(out + 4, HYPR_MODEL_HASH);
            put32(out + 8, hypr_chunk_pos());
            put32(out + 12, hypr_updates());
            return 16;
        case HP_CMD_READ_STATE:
            if (len != 6)
                return -HP_NACK_BAD_LENGTH;
            off = get32(p);
            n = get16(p + 4);
            if (off > HYPR_STATE_BYTES || n > HYPR_STATE_BYTES - off || n > HP_MAX_PAYLOAD)
                return -HP_NACK_BAD_ARG;
            hypr_state_read(off, out, n);
            return (int)n;
        case HP_CMD_WRITE_STATE:
            if (len < 4)
                return -HP_NACK_BAD_LENGTH;
            off = get32(p);
            n = len - 4;
            if (off > HYPR_STATE_BYTES || n > HYPR_STATE_BYTES - off)
                return -HP_NACK_BAD_ARG;
            for (i = 0; i < n && off + i < HYPR_STATE_HEAD; i++)
                head[off + i] = p[4 + i];
            hypr_state_write(off, p + 4, n);
            return 0;
        case HP_CMD_COMMIT_STATE:
            if (len != 0)
                return -HP_NACK_BAD_LENGTH;
            out[0] = (uint8_t)hypr_state_commit(head);
            memset(head, 0, sizeof head);   /* the next load needs its own header */
            store_sync();
            return 1;
        default: /* HP_CMD_STORE */
            if (len != 5)
                return -HP_NACK_BAD_LENGTH;
            n = get32(p + 1);
            if (p[0] == HP_STORE_SAVE)
                store_save();
            else if (p[0] == HP_STORE_EVERY)
                store_set_every(n);
            else if (p[0] == HP_STORE_ERASE)
                store_erase();
            else if (p[0] != HP_STORE_QUERY)
                return -HP_NACK_BAD_ARG;
            return store_reply(out);
        }
    }
#else
    (void)p;
    (void)len;
    (void)out;
    return -HP_NACK_UNSUPPORTED;
#endif
}
