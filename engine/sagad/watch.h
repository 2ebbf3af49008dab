/*
 * watch.h - sagad saying what it is doing and what it waits for.
 *
 * Layer: engine/sagad, the sagad program; nothing else includes it.
 *
 * At info level a healthy sagad whose sagas all wait on a dead participant
 * is silent, and so is one whose loop is wedged: an operator cannot tell
 * them apart. So sagad writes a status line every log.status_interval
 * (turns, commands sent, timers fired, replies applied and ignored, dead
 * letters, partitions, the oldest overdue wake-up), and /readyz turns "not
 * ready" with the reason when due timers are not being served
 * (ready.max_timer_lag) or no partition is assigned (saying for how
 * long); the timer lag is the metric saga_timer_lag_seconds.
 *
 * The counters are written by the loop's thread only; what /readyz reads
 * from the HTTP thread is atomic.
 */
#ifndef SAGA_SAGAD_WATCH_H
#define SAGA_SAGAD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sagad sagad;

/* Counters since the last status line (loop thread only). */
typedef struct sagad_counts {
    uint64_t turns, failed_turns, sent, timers, applied, ignored, dead, started, finished;
    uint64_t reruns; /* turns run again at once: a remembered saga or latest
                        definition changed meanwhile (turn.c) */
} sagad_counts;

/* Reads the watch's settings and registers its metric; call once. */
void sagad_watch_init(sagad *d);

/* On every turn of the loop (does something at most every 100 ms): updates
 * the timer lag, and logs the status line when it is due. */
void sagad_watch_tick(sagad *d, int64_t now_ms);

/* The /readyz verdict; writes the reason when not ready. */
bool sagad_watch_ready(sagad *d, char *why, size_t len);

#endif
