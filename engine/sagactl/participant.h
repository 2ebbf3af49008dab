/*
 * participant.h - `sagactl participant check`: what the Kafka side
 * (participant.c) and the contract's rules (participant_rules.c) share.
 *
 * Layer: engine/sagactl, the sagactl program; nothing else includes it.
 *
 * participant.c talks to a running participant exactly as sagad does: real
 * saga.Command messages on its command topic, keyed by saga id, with a
 * traceparent header, answered on a reply topic of the checker's own.
 * participant_rules.c only decides what to send and judges the answers, so
 * the rules read as the contract in docs/participants.md.
 */
#ifndef SAGACTL_PARTICIPANT_H
#define SAGACTL_PARTICIPANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "trace.h"

#define PC_STEP "check"
#define PC_MAX_TEXT 256

typedef struct pc_session pc_session; /* opaque; participant.c */

/* One command to send. */
typedef struct pc_cmd {
    const char *saga_id; /* borrowed */
    int action;          /* Saga__Action */
    int attempt;
    const char *payload; /* JSON object text, borrowed */
} pc_cmd;

/* What came back for one command (after any RETRY re-sends). */
typedef struct pc_reply {
    bool got;     /* an answer arrived before the timeout */
    bool decoded; /* and it decoded as saga.Reply */
    int outcome;  /* Saga__Outcome */
    int attempt_sent; /* the attempt of the last command sent */
    int retries;  /* RETRY answers that caused a re-send */
    int64_t ms;   /* from the last send to the answer */
    char reason[PC_MAX_TEXT];
    char *result; /* owned payload text, NULL when none: pc_reply_free */
    /* The envelope as seen, for the envelope rule. */
    char saga_id[PC_MAX_TEXT], step[PC_MAX_TEXT], key[PC_MAX_TEXT];
    int action, attempt;
    char tp_sent[SAGA_TRACEPARENT_SIZE];
    char tp_field[PC_MAX_TEXT], tp_header[PC_MAX_TEXT];
} pc_reply;

void pc_reply_free(pc_reply *r);

/* What the check was asked to do; strings borrowed from argv. */
typedef struct pc_options {
    const char *participant;
    const char *topic;   /* saga.<participant>.commands unless --topic */
    const char *brokers;
    const char *dlq_topic;
    const char *reserve, *confirm, *compensate, *reject; /* JSON; reject may be NULL */
    int64_t timeout_ms;
} pc_options;

/* Sends cmd and waits for its answer (timeout_ms), re-sending with the
 * next attempt when it is RETRY, as sagad would, up to 3 times. 0 with *out
 * filled (out->got false on silence), or SAGA_EKAFKA when sending failed. */
int pc_exchange(pc_session *s, const pc_cmd *cmd, pc_reply *out, saga_error *err);

/* Produces bytes that are not a saga.Command to the command topic, keyed
 * by key. 0 or SAGA_EKAFKA. */
int pc_send_poison(pc_session *s, const char *key, saga_error *err);

/* Waits up to the timeout for a copy of the message keyed by key on the
 * dead-letter topic; true with its dlq.reason header in reason. */
bool pc_dead_lettered(pc_session *s, const char *key, char *reason, size_t cap);

const pc_options *pc_session_options(const pc_session *s);

/* A rule's verdict: one line of output. */
typedef enum pc_status { PC_PASS = 0, PC_FAIL, PC_SKIP } pc_status;

typedef struct pc_rule {
    const char *id;       /* "duplicate-reserve" */
    bool required;        /* false: reported only */
    pc_status status;
    char saw[512];        /* what was seen, one line */
} pc_rule;

#define PC_MAX_RULES 16

/* Runs every scenario against the session and fills rules[0..*n). */
void pc_rules_run(pc_session *s, pc_rule *rules, size_t *n);

#endif
