/* The subset of SpiNNaker's spin1_api that the generated core images use (names and signatures as in
 * spinnaker_tools' spin1_api.h), so that a core image links against the real runtime or against the host
 * machine simulator (spin_sim.c) unchanged. */
#ifndef SPIN1_API_H
#define SPIN1_API_H

#include <stdint.h>

typedef void (*callback_t)(uint32_t, uint32_t);

/* events */
#define MC_PACKET_RECEIVED   0   /* callback(key, 0): multicast packet without payload */
#define MCPL_PACKET_RECEIVED 1   /* callback(key, payload) */
#define TIMER_TICK           2   /* callback(tick, 0): one time step */
#define USER_EVENT           3   /* callback(arg0, arg1): deferred work, runs after the current callback */
#define NUM_EVENTS           4

#define NO_PAYLOAD   0
#define WITH_PAYLOAD 1

void spin1_callback_on(uint32_t event_id, callback_t cback, int priority);
uint32_t spin1_send_mc_packet(uint32_t key, uint32_t data, uint32_t load);
uint32_t spin1_trigger_user_event(uint32_t arg0, uint32_t arg1);

#endif
