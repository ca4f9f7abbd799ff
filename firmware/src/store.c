/* The learning-state store (store.h). Host-tested against a file with a power cut after every byte written
 * (tests/test_store.py); QEMU boards keep it in a host file (nv.c). */
#include <string.h>
#include "store.h"
#include "board.h"
#include "hypr_model.h"
#include "proto.h"   /* hp_crc32 */

#ifdef HYPR_STATE_BYTES
#define BLK 64u      /* bytes per storage access: the stack holds one block */

static struct {
    uint32_t slot_bytes, seq, every, saves, seen, pending;
    int cur;         /* slot of the newest valid state, -1: none */
    uint8_t restored;
    int8_t result;
} st = {0, 0, HYPR_STORE_EVERY, 0, 0, 0, -1, 0, 0};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* 1 when slot k holds a complete image of this model's size with its CRC; its sequence number in *seq */
static int slot_valid(int k, uint32_t *seq)
{
    uint8_t h[STORE_SLOT_HEAD], blk[BLK];
    uint32_t base = (uint32_t)k * st.slot_bytes, off, n, crc;
    if (board_nv_read(base, h, STORE_SLOT_HEAD) || get32(h) != STORE_SLOT_MAGIC || get32(h + 8) != HYPR_STATE_BYTES)
        return 0;
    crc = hp_crc32(0, h + 4, 8);
    for (off = 0; off < HYPR_STATE_BYTES; off += n) {
        n = HYPR_STATE_BYTES - off < BLK ? HYPR_STATE_BYTES - off : BLK;
        if (board_nv_read(base + STORE_SLOT_HEAD + off, blk, n))
            return 0;
        crc = hp_crc32(crc, blk, n);
    }
    *seq = get32(h + 4);
    return crc == get32(h + 12);
}

/* load slot k's image (streamed: no image-sized buffer); 0, or negative after hypr_init() */
static int slot_load(int k)
{
    uint8_t head[HYPR_STATE_HEAD], blk[BLK];
    uint32_t base = (uint32_t)k * st.slot_bytes + STORE_SLOT_HEAD, off, n;
    for (off = 0; off < HYPR_STATE_BYTES; off += n) {
        n = HYPR_STATE_BYTES - off < BLK ? HYPR_STATE_BYTES - off : BLK;
        if (board_nv_read(base + off, blk, n)) {
            hypr_init();
            return -1;
        }
        if (off == 0)
            memcpy(head, blk, HYPR_STATE_HEAD);   /* BLK >= HYPR_STATE_HEAD */
        hypr_state_write(off, blk, n);
    }
    return hypr_state_commit(head);
}

int store_boot(void)
{
    uint32_t seq[2] = {0, 0};
    int ok[2], first, i;
    st.slot_bytes = board_nv_size() / 2;
    if (st.slot_bytes < STORE_SLOT_HEAD + HYPR_STATE_BYTES)
        st.slot_bytes = 0;
    st.cur = -1;
    st.seq = 0;
    st.restored = 0;
    st.result = 0;
    if (st.slot_bytes) {
        ok[0] = slot_valid(0, &seq[0]);
        ok[1] = slot_valid(1, &seq[1]);
        first = ok[0] && ok[1] ? (int32_t)(seq[1] - seq[0]) > 0 : ok[1];   /* newer by sequence number, mod 2^32 */
        if (ok[first]) {
            st.cur = first;   /* the slot the next save must not touch, whether or not its state loads */
            st.seq = seq[first];
        }
        for (i = 0; i < 2 && !st.restored; i++) {
            int k = i ? !first : first;
            if (ok[k]) {
                st.result = (int8_t)slot_load(k);   /* fails for another model's state: then hypr_init()'s */
                st.restored = st.result == 0;
            }
        }
    }
    store_sync();
    return st.restored;
}

int store_save(void)
{
    uint8_t h[STORE_SLOT_HEAD], blk[BLK];
    int k = st.cur == 0;   /* the other slot than the newest (none: slot 0) */
    uint32_t base = (uint32_t)k * st.slot_bytes, seq = st.seq + 1, off, n, crc;
    if (!st.slot_bytes)
        return st.result = -1;
    if (seq == 0)
        seq = 1;
    put32(h + 4, seq);
    put32(h + 8, HYPR_STATE_BYTES);
    crc = hp_crc32(0, h + 4, 8);
    if (board_nv_erase(base, STORE_SLOT_HEAD + HYPR_STATE_BYTES))
        return st.result = -2;
    for (off = 0; off < HYPR_STATE_BYTES; off += n) {
        n = HYPR_STATE_BYTES - off < BLK ? HYPR_STATE_BYTES - off : BLK;
        hypr_state_read(off, blk, n);
        crc = hp_crc32(crc, blk, n);
        if (board_nv_write(base + STORE_SLOT_HEAD + off, blk, n))
            return st.result = -2;
    }
    put32(h + 12, crc);
    put32(h, STORE_SLOT_MAGIC);
    /* the magic last: until its last byte is written the slot reads as invalid, and the other slot stays newest */
    if (board_nv_write(base + 4, h + 4, STORE_SLOT_HEAD - 4) || board_nv_write(base, h, 4))
        return st.result = -2;
    st.cur = k;
    st.seq = seq;
    st.saves++;
    st.pending = 0;
    return st.result = 0;
}

void store_after_run(void)
{
    uint32_t u = hypr_updates();
    st.pending += u >= st.seen ? u - st.seen : u;   /* a RESET FULL restarts the update counter */
    st.seen = u;
    if (st.slot_bytes && st.every && st.pending >= st.every)
        store_save();
}

void store_sync(void)
{
    st.seen = hypr_updates();
    st.pending = 0;
}

void store_set_every(uint32_t every) { st.every = every; }

int store_erase(void)
{
    int k;
    if (!st.slot_bytes)
        return st.result = -1;
    for (k = 0; k < 2; k++)
        if (board_nv_erase((uint32_t)k * st.slot_bytes, STORE_SLOT_HEAD + HYPR_STATE_BYTES))
            return st.result = -2;
    st.cur = -1;
    st.seq = 0;
    return st.result = 0;
}

void store_info(store_info_t *info)
{
    info->nv_bytes = board_nv_size();
    info->slot_bytes = st.slot_bytes;
    info->seq = st.seq;
    info->every = st.every;
    info->saves = st.saves;
    info->restored = st.restored;
    info->result = st.result;
}

#else /* a model library without the state API: no store */
int store_boot(void) { return 0; }
int store_save(void) { return -1; }
void store_after_run(void) {}
void store_sync(void) {}
void store_set_every(uint32_t every) { (void)every; }
int store_erase(void) { return -1; }
void store_info(store_info_t *info)
{
    info->nv_bytes = info->slot_bytes = info->seq = info->every = info->saves = 0;
    info->restored = 0;
    info->result = -1;
}
#endif
