/* The learning-state store: the model library's state image (hypr_state_read, docs/fixed-point.md §11) kept in the
 * board's non-volatile storage (board.h board_nv_*) so that learning survives a reset or a power loss without a
 * host. Two slots, written alternately; each holds {magic "HYNV", sequence number, length, CRC-32} and the image.
 * A save erases and writes the slot that does not hold the newest state, the magic last, so a power cut at any
 * byte leaves the newest complete slot intact; at boot the newest slot whose CRC holds is loaded
 * (docs/firmware.md). Without a model library that has the state API (HYPR_STATE_BYTES) the store is absent. */
#ifndef HYPR_STORE_H
#define HYPR_STORE_H
#include <stdint.h>

#ifndef HYPR_STORE_EVERY     /* default: save after every RUN that applied at least this many chunk updates */
#define HYPR_STORE_EVERY 1u
#endif
#define STORE_SLOT_MAGIC 0x564E5948u   /* "HYNV" */
#define STORE_SLOT_HEAD 16u            /* magic, seq, length, CRC-32 of (seq, length, image) */

typedef struct {
    uint32_t nv_bytes;     /* the board's non-volatile bytes (0: none) */
    uint32_t slot_bytes;   /* half of them; 0 when a slot cannot hold the image */
    uint32_t seq;          /* sequence number of the newest valid slot (0: none) */
    uint32_t every;        /* chunk updates between saves (0: only on request) */
    uint32_t saves;        /* saves since boot */
    uint8_t restored;      /* 1: the state was loaded from a slot at boot */
    int8_t result;         /* of the last save or restore: 0, or negative */
} store_info_t;

int store_boot(void);              /* after hypr_init(): load the newest valid slot; 1 loaded, 0 not */
int store_save(void);              /* save the current state now: 0, or negative (no store, storage error) */
void store_after_run(void);        /* after each RUN: save once `every` chunk updates have been applied */
void store_sync(void);             /* the state was replaced (a loaded image): count updates from here */
void store_set_every(uint32_t every);
int store_erase(void);             /* invalidate both slots */
void store_info(store_info_t *info);

#endif
