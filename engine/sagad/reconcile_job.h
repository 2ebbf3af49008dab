/*
 * reconcile_job.h - sagad's optional periodic reconciliation
 * (reconcile.interval): the same saga_reconcile_run as `sagactl reconcile`,
 * on a thread of its own, reporting and counting, never repairing.
 *
 * Layer: engine/sagad, the sagad program; nothing else includes it.
 *
 * Its own thread, PostgreSQL connection and Kafka clients, so a slow
 * participant never holds up a turn; a PostgreSQL advisory lock lets one
 * sagad of many run each round.
 */
#ifndef SAGA_SAGAD_RECONCILE_JOB_H
#define SAGA_SAGAD_RECONCILE_JOB_H

typedef struct sagad sagad;
typedef struct sagad_reconcile_job sagad_reconcile_job;

/* Starts the job when reconcile.interval is set (NULL otherwise, or when
 * the thread cannot start, which is logged). Borrows d's configuration and
 * metrics until sagad_reconcile_stop. */
sagad_reconcile_job *sagad_reconcile_start(sagad *d);

/* Stops the thread (waits for a running round to end) and frees the job. */
void sagad_reconcile_stop(sagad_reconcile_job *j);

#endif
