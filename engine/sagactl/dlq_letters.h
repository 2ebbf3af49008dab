/*
 * dlq_letters.h - sagactl's reading of the dead-letter topic (`sagactl dlq ...`).
 *
 * Layer: engine/sagactl, the sagactl program; nothing else includes it.
 *
 * A letter is identified by where it sits in the DLQ topic,
 * "PARTITION:OFFSET": stable for as long as Kafka keeps it, and what
 * kcat shows. Reading needs no consumer group: partitions are assigned by
 * hand from the first offset wanted to the end offset seen at start, so
 * listing commits nothing and never competes with anyone.
 */
#ifndef SAGACTL_DLQ_H
#define SAGACTL_DLQ_H

#include <librdkafka/rdkafka.h>

#include "sagactl.h"

typedef struct cli_letter {
    rd_kafka_message_t *msg;   /* owned */
    char id[48];               /* "PARTITION:OFFSET" in the DLQ topic */
    char reason[512];          /* dlq.reason */
    char topic[256];           /* dlq.topic: where it was consumed */
    long long partition, offset; /* dlq.partition, dlq.offset (-1 unknown) */
    char replay_of[128];       /* dlq.replay-of: a replay that failed again */
    int64_t timestamp_ms;      /* when it was dead-lettered */
} cli_letter;

/* The letters borrow from the consumer that read them (librdkafka wants
 * every message destroyed before its client), so both live and die
 * together. */
typedef struct cli_letters {
    cli_letter *v;
    size_t n, cap;
    rd_kafka_t *consumer; /* owned */
} cli_letters;

/* Which letters to read. */
typedef struct cli_dlq_filter {
    int64_t since_ms;          /* 0: all */
    const char *topic;         /* original topic, NULL: any */
    const char *reason;        /* substring of dlq.reason, NULL: any */
    int partition;             /* >= 0: this one letter only (with offset) */
    long long offset;
} cli_dlq_filter;

#define CLI_DLQ_REPLAY_HEADER "dlq.replay-of"

/* Reads the letters of dlq_topic that pass f, in partition then offset
 * order. Fills *out (free with cli_letters_free, also on error); a topic
 * that does not exist yet holds no letters. 0 or SAGA_EKAFKA. */
int cli_dlq_read(const char *brokers, const char *dlq_topic, const cli_dlq_filter *f,
                 cli_letters *out, saga_error *err);
void cli_letters_free(cli_letters *l);

/* The letter decoded as the message its original topic carries (Command,
 * Reply or StartSaga; any of them when the topic says nothing), as JSON
 * with "type" first, or NULL when it is not one. *summary gets one line
 * for the table. New reference. */
json_t *cli_letter_decode(const cli_letter *l, char *summary, size_t cap);

/* The saga a decoded letter belongs to ("" when none or not a UUID). */
void cli_letter_saga(const json_t *decoded, char id[SAGA_ID_LEN + 1]);

/* "PARTITION:OFFSET" parsed; 0 or SAGA_EINVAL. */
int cli_letter_id_parse(const char *s, int *partition, long long *offset, saga_error *err);

#endif
