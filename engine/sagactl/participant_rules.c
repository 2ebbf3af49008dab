/*
 * participant_rules.c - the participant contract as a conformance check:
 * what `sagactl participant check` sends and how it judges the answers.
 *
 * Each scenario is one saga of its own (a fresh UUID, so nothing recorded
 * before can answer for it) and checks the rules that sequence exercises;
 * each rule is one output line saying what was seen. A rule whose
 * precondition failed (no successful RESERVE to confirm) is reported as
 * failed "not checked", never silently passed. The undecodable message
 * goes last: a participant that dies on it must not hide other failures.
 * Results are compared as JSON values, not bytes, so a participant in
 * another language may order keys as it likes.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "participant.h"
#include "random.h"
#include "saga.pb-c.h"

#define RESERVE SAGA__ACTION__RESERVE
#define CONFIRM SAGA__ACTION__CONFIRM
#define COMPENSATE SAGA__ACTION__COMPENSATE

typedef struct checker {
    pc_session *s;
    const pc_options *o;
    pc_rule *rules;
    size_t n;
    pc_rule *envelope;
    int replies;           /* replies whose envelope was checked */
    char blocked[160];     /* why later rules cannot be checked; "" */
} checker;

static const char *outcome_name(int o)
{
    static const char *const names[] = {"UNSPECIFIED", "OK", "REJECTED", "RETRY"};
    return o >= 0 && o <= 3 ? names[o] : "UNKNOWN";
}

static const char *action_name(int a)
{
    static const char *const names[] = {"UNSPECIFIED", "RESERVE", "CONFIRM", "COMPENSATE"};
    return a >= 0 && a <= 3 ? names[a] : "UNKNOWN";
}

static pc_rule *rule(checker *k, const char *id, bool required)
{
    pc_rule *r = &k->rules[k->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->required = required;
    r->status = PC_PASS;
    return r;
}

static void verdict(pc_rule *r, pc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(pc_rule *r, pc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->status = st;
    vsnprintf(r->saw, sizeof r->saw, fmt, ap);
    va_end(ap);
}

static void not_checked(pc_rule *r, const char *why)
{
    verdict(r, PC_FAIL, "not checked: %s", why);
}

/* A reply in a few words: "OK {...} in 12 ms", "REJECTED (why)", silence. */
static const char *describe(const checker *k, const pc_reply *r, char *buf, size_t cap)
{
    if (!r->got)
        snprintf(buf, cap, "no answer within %lld ms", (long long)k->o->timeout_ms);
    else if (!r->decoded)
        snprintf(buf, cap, "an answer that is not a saga.Reply");
    else
        snprintf(buf, cap, "%s%s%.120s%s%.120s%s in %lld ms", outcome_name(r->outcome),
                 r->result ? " " : "", r->result ? r->result : "", *r->reason ? " (" : "",
                 r->reason, *r->reason ? ")" : "", (long long)r->ms);
    return buf;
}

static bool same_trace(const char *sent, const char *seen)
{
    saga_trace a, b;
    return saga_trace_parse(sent, &a) == 0 && saga_trace_parse(seen, &b) == 0 &&
           strcmp(a.trace_id, b.trace_id) == 0;
}

/* Checks the envelope of one answer: the first mismatch is what the
 * envelope rule reports. */
static void check_envelope(checker *k, const pc_cmd *c, const pc_reply *r)
{
    if (!r->got)
        return;
    k->replies++;
    if (k->envelope->status == PC_FAIL)
        return;
    const char *a = action_name(c->action);
    if (!r->decoded)
        verdict(k->envelope, PC_FAIL, "%s: the answer is not a saga.Reply", a);
    else if (strcmp(r->key, c->saga_id) != 0)
        verdict(k->envelope, PC_FAIL, "%s: reply keyed \"%.64s\", not by the saga id %s", a,
                r->key, c->saga_id);
    else if (strcmp(r->saga_id, c->saga_id) != 0 || strcmp(r->step, PC_STEP) != 0)
        verdict(k->envelope, PC_FAIL, "%s: reply for saga \"%.64s\" step \"%.64s\", sent %s step %s",
                a, r->saga_id, r->step, c->saga_id, PC_STEP);
    else if (r->action != c->action || r->attempt != r->attempt_sent)
        verdict(k->envelope, PC_FAIL, "%s attempt %d: reply says %s attempt %d", a,
                r->attempt_sent, action_name(r->action), r->attempt);
    else if (!same_trace(r->tp_sent, r->tp_header) || !same_trace(r->tp_sent, r->tp_field))
        verdict(k->envelope, PC_FAIL, "%s: traceparent sent %s, reply header \"%.60s\", field "
                "\"%.60s\"", a, r->tp_sent, r->tp_header, r->tp_field);
}

/* Sends one command and waits for its answer; true when one decoded. */
static bool ask(checker *k, const char *saga, int action, int attempt, const char *payload,
                pc_reply *r)
{
    pc_cmd c = {saga, action, attempt, payload};
    saga_error err;
    if (pc_exchange(k->s, &c, r, &err)) {
        snprintf(k->blocked, sizeof k->blocked, "%.150s", err.msg);
        snprintf(r->reason, sizeof r->reason, "not sent: %.200s", err.msg);
        return false;
    }
    check_envelope(k, &c, r);
    return r->got && r->decoded;
}

static bool is(const pc_reply *r, int outcome)
{
    return r->got && r->decoded && r->outcome == outcome;
}

/* Same outcome and the same result (as JSON values). */
static bool same(const pc_reply *a, const pc_reply *b)
{
    if (!a->got || !b->got || !a->decoded || !b->decoded || a->outcome != b->outcome)
        return false;
    if (!a->result || !b->result)
        return !a->result && !b->result;
    json_t *ja = json_loads(a->result, JSON_DECODE_ANY, NULL);
    json_t *jb = json_loads(b->result, JSON_DECODE_ANY, NULL);
    bool eq = ja && jb ? json_equal(ja, jb) : strcmp(a->result, b->result) == 0;
    json_decref(ja);
    json_decref(jb);
    return eq;
}

/* ACTION twice (OK, one result), then OTHER (REJECTED): the step is either
 * confirmed or compensated, and each is idempotent. */
static void twice_then_other(checker *k, const char *saga, int action, int other,
                             pc_rule *twice, pc_rule *late)
{
    const char *p1 = action == CONFIRM ? k->o->confirm : k->o->compensate;
    const char *p2 = other == CONFIRM ? k->o->confirm : k->o->compensate;
    char d1[300], d2[300];
    pc_reply a = {0}, b = {0}, x = {0};
    ask(k, saga, action, 1, p1, &a);
    ask(k, saga, action, 1, p1, &b);
    verdict(twice, is(&a, SAGA__OUTCOME__OK) && same(&a, &b) ? PC_PASS : PC_FAIL,
            "%s after RESERVE: %s; again: %s", action_name(action), describe(k, &a, d1, sizeof d1),
            describe(k, &b, d2, sizeof d2));
    ask(k, saga, other, 1, p2, &x);
    verdict(late, is(&x, SAGA__OUTCOME__REJECTED) ? PC_PASS : PC_FAIL, "%s after %s: %s%s",
            action_name(other), action_name(action), describe(k, &x, d1, sizeof d1),
            is(&x, SAGA__OUTCOME__OK) ? " - the step is both confirmed and compensated" : "");
    pc_reply_free(&a), pc_reply_free(&b), pc_reply_free(&x);
}

/* RESERVE, its duplicates, CONFIRM twice, then a COMPENSATE to refuse. */
static void scenario_confirm(checker *k)
{
    char saga[37], d1[300], d2[300], d3[300];
    saga_random_uuid(saga);
    pc_rule *answers = rule(k, "answers", true);
    pc_rule *accepted = rule(k, "reserve-accepted", true);
    pc_rule *dup = rule(k, "duplicate-reserve", true);
    pc_rule *confirm = rule(k, "confirm", true);
    pc_rule *late = rule(k, "compensate-after-confirm", true);
    pc_reply r1, r2 = {0}, r3 = {0};
    if (!ask(k, saga, RESERVE, 1, k->o->reserve, &r1)) {
        verdict(answers, PC_FAIL, "RESERVE: %s", describe(k, &r1, d1, sizeof d1));
        if (!k->blocked[0])
            snprintf(k->blocked, sizeof k->blocked, "the participant did not answer a RESERVE");
        for (pc_rule *r = accepted; r <= late; r++)
            not_checked(r, k->blocked);
        goto out;
    }
    verdict(answers,
            is(&r1, SAGA__OUTCOME__OK) || is(&r1, SAGA__OUTCOME__REJECTED) ? PC_PASS : PC_FAIL,
            "RESERVE answered %s%s", describe(k, &r1, d1, sizeof d1),
            r1.retries ? " after RETRY answers re-sent with the next attempt" : "");
    verdict(accepted, is(&r1, SAGA__OUTCOME__OK) ? PC_PASS : PC_FAIL,
            "RESERVE with --reserve-payload answered %s", outcome_name(r1.outcome));
    int at = r1.attempt_sent;
    ask(k, saga, RESERVE, at, k->o->reserve, &r2);
    ask(k, saga, RESERVE, at + 1, k->o->reserve, &r3);
    verdict(dup, same(&r1, &r2) && same(&r1, &r3) ? PC_PASS : PC_FAIL,
            "attempt %d: %s; again: %s; attempt %d: %s", at, d1, describe(k, &r2, d2, sizeof d2),
            r3.attempt_sent, describe(k, &r3, d3, sizeof d3));
    if (!is(&r1, SAGA__OUTCOME__OK)) {
        not_checked(confirm, "no successful RESERVE (check --reserve-payload)");
        not_checked(late, "no successful RESERVE (check --reserve-payload)");
        goto out;
    }
    twice_then_other(k, saga, CONFIRM, COMPENSATE, confirm, late);
out:
    pc_reply_free(&r1), pc_reply_free(&r2), pc_reply_free(&r3);
}

/* COMPENSATE of a step never reserved, then the RESERVE that arrives late. */
static void scenario_empty(checker *k)
{
    char saga[37], d[300];
    saga_random_uuid(saga);
    pc_rule *empty = rule(k, "empty-compensation", true);
    pc_rule *hanging = rule(k, "hanging-reserve", true);
    if (k->blocked[0]) {
        not_checked(empty, k->blocked);
        not_checked(hanging, k->blocked);
        return;
    }
    pc_reply e, h = {0};
    ask(k, saga, COMPENSATE, 1, k->o->compensate, &e);
    verdict(empty, is(&e, SAGA__OUTCOME__OK) ? PC_PASS : PC_FAIL,
            "COMPENSATE of a step never reserved: %s", describe(k, &e, d, sizeof d));
    ask(k, saga, RESERVE, 1, k->o->reserve, &h);
    verdict(hanging, is(&h, SAGA__OUTCOME__REJECTED) ? PC_PASS : PC_FAIL,
            "RESERVE after its COMPENSATE: %s%s", describe(k, &h, d, sizeof d),
            is(&h, SAGA__OUTCOME__OK) ? " - a hanging reserve took effect" : "");
    pc_reply_free(&e);
    pc_reply_free(&h);
}

/* RESERVE, COMPENSATE twice, then a CONFIRM to refuse. */
static void scenario_compensate(checker *k)
{
    char saga[37];
    saga_random_uuid(saga);
    pc_rule *comp = rule(k, "compensate", true);
    pc_rule *late = rule(k, "confirm-after-compensate", true);
    pc_reply r = {0};
    if (k->blocked[0] || !ask(k, saga, RESERVE, 1, k->o->reserve, &r) ||
        !is(&r, SAGA__OUTCOME__OK)) {
        const char *why = k->blocked[0] ? k->blocked : "no successful RESERVE to compensate";
        not_checked(comp, why);
        not_checked(late, why);
        pc_reply_free(&r);
        return;
    }
    twice_then_other(k, saga, COMPENSATE, CONFIRM, comp, late);
    pc_reply_free(&r);
}

static void scenario_reject(checker *k)
{
    char saga[37], d[300];
    saga_random_uuid(saga);
    pc_rule *rej = rule(k, "reject-payload", true);
    if (!k->o->reject) {
        verdict(rej, PC_SKIP, "no --reject-payload given");
        return;
    }
    if (k->blocked[0]) {
        not_checked(rej, k->blocked);
        return;
    }
    pc_reply r;
    ask(k, saga, RESERVE, 1, k->o->reject, &r);
    verdict(rej, is(&r, SAGA__OUTCOME__REJECTED) ? PC_PASS : PC_FAIL,
            "RESERVE with --reject-payload: %s", describe(k, &r, d, sizeof d));
    pc_reply_free(&r);
}

/* Bytes that are no Command, then a RESERVE with the same key (so on the
 * same partition, behind them): it must be answered. */
static void scenario_poison(checker *k)
{
    char saga[37], d[300], reason[PC_MAX_TEXT];
    saga_random_uuid(saga);
    pc_rule *survives = rule(k, "survives-undecodable", true);
    pc_rule *dlq = rule(k, "dead-letters-undecodable", false);
    saga_error err;
    if (k->blocked[0] || pc_send_poison(k->s, saga, &err)) {
        not_checked(survives, k->blocked[0] ? k->blocked : err.msg);
        not_checked(dlq, k->blocked[0] ? k->blocked : err.msg);
        return;
    }
    pc_reply r;
    ask(k, saga, RESERVE, 1, k->o->reserve, &r);
    verdict(survives, r.got ? PC_PASS : PC_FAIL, "RESERVE behind an undecodable message: %s",
            describe(k, &r, d, sizeof d));
    pc_reply_free(&r);
    if (pc_dead_lettered(k->s, saga, reason, sizeof reason))
        verdict(dlq, PC_PASS, "copied to %s with dlq.reason \"%.200s\"", k->o->dlq_topic, reason);
    else
        verdict(dlq, PC_FAIL, "no copy keyed %s on %s within %lld ms", saga, k->o->dlq_topic,
                (long long)k->o->timeout_ms);
}

void pc_rules_run(pc_session *s, pc_rule *rules, size_t *n)
{
    checker k = {.s = s, .o = pc_session_options(s), .rules = rules};
    k.envelope = rule(&k, "reply-envelope", true);
    scenario_confirm(&k);
    scenario_empty(&k);
    scenario_compensate(&k);
    scenario_reject(&k);
    scenario_poison(&k);
    if (k.replies == 0)
        verdict(k.envelope, PC_FAIL, "no reply to check");
    else if (k.envelope->status == PC_PASS)
        verdict(k.envelope, PC_PASS, "%d replies keyed by saga id, echoing saga id, step, action "
                                     "and attempt, traceparent continued in header and field",
                k.replies);
    *n = k.n;
}
