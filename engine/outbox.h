/*
 * outbox.h - the relay: publishes outbox rows nobody else is publishing.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * Normally the sagad process that commits a command publishes it at once
 * and deletes its row; the relay covers everything else - rows written by
 * sagactl (retry, abort), rows of a sagad that crashed between commit and
 * publish, rows whose delivery failed. It claims rows with FOR UPDATE SKIP
 * LOCKED (so several relays never send the same row concurrently), sends
 * them, waits for Kafka's acknowledgement, then deletes them in the same
 * transaction. A crash anywhere in between re-sends, never loses: commands
 * are at-least-once, and participants deduplicate them.
 */
#ifndef SAGA_OUTBOX_H
#define SAGA_OUTBOX_H

#include <libpq-fe.h>
#include <stddef.h>

#include "bus.h"
#include "error.h"

/* NOTIFY channel: "outbox rows are waiting for the relay". */
#define SAGA_CHANNEL_OUTBOX "saga_outbox"

/* Relays up to max due rows; *sent receives how many. */
int saga_outbox_relay(PGconn *conn, saga_bus *bus, size_t max, size_t *sent,
                      saga_error *err);

/* Rows waiting in the outbox (for the saga_outbox_pending gauge). */
int saga_outbox_pending(PGconn *conn, long *pending, saga_error *err);

#endif
