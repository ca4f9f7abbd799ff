/* Board protocol, device side: frame decoder, encoder and CRC (docs/protocol.md).
 * The constants come from hypr_proto_defs.h, generated from host/protocol.py. */
#ifndef HYPR_PROTO_H
#define HYPR_PROTO_H
#include <stdint.h>
#include "hypr_proto_defs.h"

#define HP_BODY_MAX (HP_HEADER_BYTES + HP_MAX_PAYLOAD + HP_CRC_BYTES)
/* Worst case on the wire: SOF, then every body byte escaped. */
#define HP_WIRE_MAX (1 + 2 * HP_BODY_MAX)

typedef enum { HP_EV_NONE = 0, HP_EV_FRAME, HP_EV_ERROR } hp_event_t;

typedef struct {
    uint8_t body[HP_BODY_MAX]; /* unescaped: version, seq, cmd, len, payload, crc */
    uint32_t n;                /* bytes in body */
    uint32_t need;             /* bytes the frame will have, known once the header is in */
    uint8_t in_frame, esc;
    uint8_t error;             /* HP_NACK_* of the last HP_EV_ERROR */
} hp_decoder_t;

uint32_t hp_crc32(uint32_t crc, const uint8_t *p, uint32_t n); /* crc = 0 to start, like zlib.crc32 */
void hp_decoder_init(hp_decoder_t *d);
/* Feed one byte; HP_EV_FRAME: body[] holds a frame with a good CRC; HP_EV_ERROR: see d->error. */
hp_event_t hp_feed(hp_decoder_t *d, uint8_t b);
static inline uint8_t hp_seq(const hp_decoder_t *d) { return d->n > 1 ? d->body[1] : 0; }
static inline uint8_t hp_cmd(const hp_decoder_t *d) { return d->n > 2 ? d->body[2] : 0; }
static inline uint32_t hp_len(const hp_decoder_t *d) { return (uint32_t)d->body[3] | ((uint32_t)d->body[4] << 8); }
static inline const uint8_t *hp_payload(const hp_decoder_t *d) { return d->body + HP_HEADER_BYTES; }
/* CRC field of the decoded frame (identifies a retransmission). */
uint32_t hp_frame_crc(const hp_decoder_t *d);

/* Encode a frame into wire[] (at least HP_WIRE_MAX bytes); returns its length. */
uint32_t hp_encode(uint8_t *wire, uint8_t seq, uint8_t cmd, const uint8_t *payload, uint32_t len);

#endif
