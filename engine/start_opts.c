/*
 * start_opts.c - the options of a start request (deadline, start time,
 * tags) checked and turned into the new saga's row (start_item.h).
 *
 * Kept beside start.c rather than in it because the same checks serve
 * saga_start (an application), sagactl (through saga_start) and sagad's
 * StartSaga consumer, and each refusal must read the same wherever it
 * comes from. The only difference is a start time already passed: a person
 * asking for it made a mistake, a StartSaga message may simply have waited
 * in Kafka, so the caller says which (past_ok).
 */
#include "start_item.h"

#include "clock.h"
#include "tags.h"

static int check_times(const saga_start_opts *o, int64_t now_ms, saga_error *err)
{
    if (o->deadline_ms < 0 || o->deadline_ms > SAGA_SPEC_MAX_DEADLINE_MS) {
        saga_error_set(err, SAGA_EINVAL, "deadline: must be between 1 ms and 30 days, got %lld ms",
                       (long long)o->deadline_ms);
        return SAGA_EINVAL;
    }
    if (o->start_at_ms < 0)
        return saga_error_set(err, SAGA_EINVAL, "start time: negative (%lld ms since the epoch)",
                              (long long)o->start_at_ms);
    if (o->start_at_ms == 0 || o->start_at_ms > now_ms || o->past_ok)
        return 0;
    char at[SAGA_TIME_TEXT_MAX], now[SAGA_TIME_TEXT_MAX];
    saga_time_format_utc(o->start_at_ms, at, sizeof at);
    saga_time_format_utc(now_ms, now, sizeof now);
    saga_error_set(err, SAGA_EINVAL, "start time %s is in the past (now is %s)", at, now);
    saga_error_hint(err, "leave the start time out to start now, or give a later one");
    return SAGA_EINVAL;
}

int saga_start_apply_opts(const saga_spec *spec, const json_t *input,
                          const saga_start_opts *o, saga_start_item *it, saga_error *err)
{
    static const saga_start_opts none = {0};
    if (!o)
        o = &none;
    int rc = check_times(o, it->row.now_ms, err);
    if (rc)
        return rc;
    it->row.opts.deadline_ms = o->deadline_ms > 0 ? o->deadline_ms : spec->deadline_ms;
    it->row.opts.start_at_ms = o->start_at_ms > it->row.now_ms ? o->start_at_ms : 0;
    rc = saga_tags_build(spec, input, it->id, o->tags, &it->tags, err);
    it->row.tags = it->tags;
    return rc;
}

bool saga_start_item_scheduled(const saga_start_item *it)
{
    return it->row.opts.start_at_ms > 0;
}

void saga_start_item_clear(saga_start_item *it)
{
    json_decref(it->tags);
    it->tags = NULL;
    it->row.tags = NULL;
}
