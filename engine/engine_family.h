/*
 * engine_family.h - private to engine.c and engine_family.c: how the engine
 * runs sub-saga steps (see engine_family.c for the coupling).
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 */
#ifndef SAGA_ENGINE_FAMILY_H
#define SAGA_ENGINE_FAMILY_H

#include "engine.h"

/* What one apply hands to the family code (all borrowed). */
typedef struct engine_family_io {
    saga_engine *e;
    PGconn *conn;
    const char *reply_topic;
    const char *signal_topic; /* topics.signals: where orders to a child go */
    saga_writes *w;
    saga_msgs *msgs;  /* NULL: the relay publishes */
    int64_t now_ms;
} engine_family_io;

/* The id of the sub-saga run for `step` of parent_id (derived, stable). */
void saga_engine_child_id(const char *parent_id, const char *step,
                          char out[SAGA_ID_LEN + 1]);

/* A command of a sub-saga step: RESERVE starts the child in this
 * transaction (or answers the step REJECTED when it cannot be started);
 * CONFIRM and COMPENSATE are sent to the child as a Signal. */
int saga_engine_family_command(const engine_family_io *io, const saga_spec *spec,
                               saga_row *row, const saga_command *c, saga_error *err);

/* A held saga's report (fx->report_*) as a Reply for its parent's step. */
int saga_engine_family_report(const engine_family_io *io, const saga_row *row,
                              const saga_effects *fx, saga_error *err);

/* engine.c's message list, shared: takes
 * payload (owned) on success. */
int saga_msgs_push(saga_msgs *m, const char *topic, const char *key, void *payload,
                   size_t len, const char *tp);

/* ABORT or RESOLVE of a held saga: tells the machine whether its parent
 * has finished (x->ev.parent_done). */
int saga_engine_family_check(PGconn *conn, const saga_row *row, saga_engine_event *x,
                             saga_error *err);

/* --- signals (engine_signal.c) ------------------------------------------- */

/* Records a SIGNAL or PARENT event before the machine's notes; false for
 * other kinds. */
bool saga_engine_signal_record(saga_writes *w, const saga_row *row,
                               const saga_engine_event *x);
/* A SIGNAL the machine refused: recorded as ignored, with who sent it. */
void saga_engine_signal_refused(saga_writes *w, const saga_row *row,
                                const saga_engine_event *x);
/* An approval applied: its data (or {}) becomes the step's result. */
void saga_engine_signal_result(saga_row *row, const saga_engine_event *x,
                               const saga_effects *fx);

#endif
