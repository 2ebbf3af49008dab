/*
 * kafka.c - shared Kafka client helpers (see kafka.h).
 */
#include "kafka.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

int saga_kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
                        const char *value, saga_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return 0;
    return saga_error_set(err, SAGA_EINVAL, "kafka.%s: %s", key, errstr);
}

void saga_kafka_assignment_init(saga_kafka_assignment *a, int64_t now_ms)
{
    __atomic_store_n(&a->partitions, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&a->changed_ms, now_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&a->rebalances, 0, __ATOMIC_RELAXED);
}

int saga_kafka_assignment_get(const saga_kafka_assignment *a, int64_t *since_ms)
{
    if (since_ms)
        *since_ms = __atomic_load_n(&a->changed_ms, __ATOMIC_RELAXED);
    return __atomic_load_n(&a->partitions, __ATOMIC_RELAXED);
}

/* "saga.replies[0,1] saga.start[2]" for a log line, cut at cap. */
static void parts_text(const rd_kafka_topic_partition_list_t *p, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->cnt && n + 1 < cap; i++) {
        const rd_kafka_topic_partition_t *t = &p->elems[i];
        bool same = i > 0 && strcmp(p->elems[i - 1].topic, t->topic) == 0;
        int w = same ? snprintf(buf + n, cap - n, ",%d", (int)t->partition)
                     : snprintf(buf + n, cap - n, "%s%s[%d", i ? "] " : "", t->topic,
                                (int)t->partition);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
    if (p->cnt && n + 1 < cap)
        snprintf(buf + n, cap - n, "]");
}

void saga_kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts,
                          saga_kafka_assignment *a, const char *who)
{
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative)
        e = assign ? rd_kafka_incremental_assign(rk, parts)
                   : rd_kafka_incremental_unassign(rk, parts);
    else
        re = rd_kafka_assign(rk, assign ? parts : NULL);
    int now = __atomic_load_n(&a->partitions, __ATOMIC_RELAXED);
    if (cooperative)
        now += assign ? parts->cnt : -parts->cnt;
    else
        now = assign ? parts->cnt : 0;
    if (now < 0)
        now = 0;
    __atomic_store_n(&a->partitions, now, __ATOMIC_RELAXED);
    __atomic_store_n(&a->changed_ms, saga_clock_now_ms(), __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->rebalances, 1, __ATOMIC_RELAXED);
    char list[512];
    parts_text(parts, list, sizeof list);
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS &&
        err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        saga_log_warn(NULL, "%s: rebalance error %s; partitions released",
                      who, rd_kafka_err2str(err));
    else
        saga_log_info(NULL, "%s: %s %s (%s); %d partition%s now", who,
                      assign ? "assigned" : "revoked", *list ? list : "nothing",
                      cooperative ? "cooperative" : "eager", now, now == 1 ? "" : "s");
    if (e) {
        saga_log_warn(NULL, "%s: applying the rebalance failed: %s", who,
                      rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (re) {
        saga_log_warn(NULL, "%s: applying the rebalance failed: %s", who,
                      rd_kafka_err2str(re));
    }
}

bool saga_kafka_instance_id(const char *role, const char *http_listen,
                            char *out, size_t cap)
{
    if (!http_listen || !*http_listen || strcmp(http_listen, "off") == 0)
        return false;
    const char *port = strrchr(http_listen, ':');
    if (!port || !port[1])
        return false;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    int n = snprintf(out, cap, "%s@%s:%s", role, host, port + 1);
    return n > 0 && (size_t)n < cap;
}
