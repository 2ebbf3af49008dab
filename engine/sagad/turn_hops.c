/*
 * turn_hops.c - hop rows of a turn (see turn_hops.h). A StartSaga has only
 * the Kafka timestamp its producer set (milliseconds), so its row is
 * coarser than a reply's.
 */
#include "turn_hops.h"

#include <inttypes.h>
#include <stdio.h>

#include "hops.h"

/* The hop header of m, or NULL. */
static const char *hop_header(rd_kafka_message_t *m, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    if (rd_kafka_message_headers(m, &h) || !h ||
        rd_kafka_header_get_last(h, SAGA_HOPS_HEADER, &v, len) || !v)
        return NULL;
    return v;
}

static void start_row(const saga_engine_event *x, rd_kafka_message_t *m, saga_writes *w,
                      int64_t free_us, int64_t turn_us)
{
    rd_kafka_timestamp_type_t type;
    int64_t ms = rd_kafka_message_timestamp(m, &type);
    if (ms <= 0 || type != RD_KAFKA_TIMESTAMP_CREATE_TIME)
        return;
    int64_t sent = ms * 1000, wait = free_us > sent ? free_us - sent : 0;
    if (wait > turn_us - sent)
        wait = turn_us - sent;
    char text[96];
    snprintf(text, sizeof text, "start.transit=%" PRId64 " start.wait=%" PRId64,
             turn_us - sent - wait, wait);
    saga_writes_history(w, x->saga_id, x->ev.now_ms, "hop", NULL, NULL, 0, NULL, text, NULL);
}

void saga_turn_hops(const saga_batch *b, saga_writes *w, int64_t free_us, int64_t turn_us)
{
    for (size_t i = 0; i < b->n_evs; i++) {
        const saga_engine_event *x = &b->evs[i];
        rd_kafka_message_t *m = b->ev_msg[i];
        if (x->rc || !m)
            continue;
        if (x->ev.kind == SAGA_EV_START) {
            start_row(x, m, w, free_us, turn_us);
            continue;
        }
        size_t len = 0;
        const char *v;
        char text[SAGA_HOPS_MAX];
        if (x->ev.kind != SAGA_EV_REPLY || !x->applied || !(v = hop_header(m, &len)) ||
            !saga_hops_text(v, len, free_us, turn_us, text, sizeof text))
            continue;
        saga_writes_history(w, x->saga_id, x->ev.now_ms, "hop", x->step_name,
                            saga_action_name(x->ev.action), x->ev.attempt, NULL, text, NULL);
    }
}
