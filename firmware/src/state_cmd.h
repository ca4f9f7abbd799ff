/* Board-protocol commands of the learning state and its store (state_cmd.c). */
#ifndef HYPR_STATE_CMD_H
#define HYPR_STATE_CMD_H
#include <stdint.h>

/* Run one of STATE_INFO, READ_STATE, WRITE_STATE, COMMIT_STATE, STORE: the reply length, or -reason for a NACK
 * (-HP_NACK_UNKNOWN_CMD for any other command). */
int state_command(uint8_t cmd, const uint8_t *p, uint32_t len, uint8_t *out);
#endif
