/*
 * hops.h - where one command-and-reply hop of a saga spent its time, carried
 * in a Kafka header so that no message format changes.
 *
 * sagad stamps each Command with the times of the turn that decided it; the
 * worker copies that value onto its Reply and adds the times of its batch;
 * the sagad turn that applies the Reply adds its own and writes the
 * durations as a history row (kind "hop") that `sagactl show --timing`
 * reads. A header, not protobuf fields: a participant that does not know it
 * drops it and the hop simply goes unmeasured, and the Go library and older
 * workers stay wire compatible. Times are wall-clock microseconds; every
 * process of a deployment is assumed to share a clock (one machine, or NTP:
 * a skew shows up as transit time).
 *
 * Value: "s<turn start>,<decoded>,<decided>,<committed>,<produced>" from
 * sagad, then ";w<free>,<polled>,<batch start>,<applied>,<produced>" from
 * the worker (free: when its previous batch let go of the loop).
 */
#ifndef SAGA_HOPS_H
#define SAGA_HOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAGA_HOPS_HEADER "saga-hops"
#define SAGA_HOPS_MAX 256 /* room for a value and for a hop's text */

/* Wall-clock microseconds since the epoch. */
int64_t saga_hops_now_us(void);

/* sagad's part from the turn's five times (start, decoded, decided,
 * committed, produced). */
void saga_hops_turn(char *buf, size_t cap, const int64_t t[5]);

/* The worker's Reply value: the Command's value cmd (len bytes, not
 * terminated) followed by the batch's five times (free, polled, batch
 * start, applied, produced). False when cmd is not a sagad value. */
bool saga_hops_worker(char *buf, size_t cap, const char *cmd, size_t len, const int64_t t[5]);

/*
 * The text of a hop row: durations in microseconds as "key=value" words,
 * from a Reply's value and the applying turn's times: free_us, when its
 * loop finished the turn before, and turn_us, when this turn started.
 * Keys: turn.decode turn.decide turn.commit turn.publish cmd.transit
 * cmd.wait worker.fill worker.apply worker.reply reply.transit reply.wait.
 * A *.wait is the part of the gap after a produce during which the
 * receiver was still busy with its previous turn or batch. False when v is
 * not a complete value.
 */
bool saga_hops_text(const char *v, size_t len, int64_t free_us, int64_t turn_us, char *out,
                    size_t cap);

/* Reads key's value from a hop row's text; false when absent. */
bool saga_hops_get(const char *text, const char *key, int64_t *us);

#endif
