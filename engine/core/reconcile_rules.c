/*
 * reconcile_rules.c - the comparison behind sagactl reconcile.
 *
 * The questions asked are the ones that cost money when the answer is
 * wrong: does a participant still hold something the log says was released
 * (or released something the log says was kept)? Those two are the only
 * kinds --repair may act on, and only by sending the command the log's
 * outcome implies (COMPENSATE for a COMPENSATED saga, CONFIRM for a
 * COMPLETED one), which the participant's barrier makes safe to repeat. A
 * confirm on a compensated saga or a compensation on a completed one cannot
 * be undone by another command: they are reported for a human.
 */
#include "reconcile_rules.h"

static const struct {
    const char *name, *text;
} KINDS[] = {
    {"unknown", ""},
    {"reserved_not_compensated", "saga compensated, participant still holds the reservation"},
    {"confirmed_on_compensated", "saga compensated, participant confirmed"},
    {"reserved_not_confirmed", "saga completed, participant never confirmed"},
    {"compensated_on_completed", "saga completed, participant compensated"},
    {"unknown_record", "participant recorded an action the log never sent"},
    {"not_recorded", "log applied an answer the participant has no record of"},
    {"no_answer", "participant did not answer the query"},
};

const char *saga_recon_kind_name(saga_recon_kind k)
{
    return k >= SAGA_RECON_RESERVED_NOT_COMPENSATED && k <= SAGA_RECON_NO_ANSWER
               ? KINDS[k].name
               : KINDS[0].name;
}

const char *saga_recon_kind_text(saga_recon_kind k)
{
    return k >= SAGA_RECON_RESERVED_NOT_COMPENSATED && k <= SAGA_RECON_NO_ANSWER
               ? KINDS[k].text
               : KINDS[0].text;
}

static size_t add(saga_recon_mismatch *out, size_t n, saga_recon_kind k, saga_action a,
                  saga_action repair)
{
    if (n < SAGA_RECON_MAX)
        out[n++] = (saga_recon_mismatch){k, a, repair};
    return n;
}

size_t saga_recon_compare(const saga_recon_log *log, const saga_recon_seen *seen,
                          saga_recon_mismatch out[SAGA_RECON_MAX])
{
    if (!seen->answered)
        return add(out, 0, SAGA_RECON_NO_ANSWER, SAGA_ACT_NONE, SAGA_ACT_NONE);
    size_t n = 0;
    bool reserved = seen->outcome[SAGA_ACT_RESERVE] == SAGA_OUT_OK;
    bool confirmed = seen->outcome[SAGA_ACT_CONFIRM] == SAGA_OUT_OK;
    bool compensated = seen->outcome[SAGA_ACT_COMPENSATE] == SAGA_OUT_OK;
    if (log->status == SAGA_COMPENSATED) {
        if (confirmed)
            n = add(out, n, SAGA_RECON_CONFIRMED_ON_COMPENSATED, SAGA_ACT_CONFIRM,
                    SAGA_ACT_NONE);
        else if (reserved && !compensated && !log->without_compensate)
            n = add(out, n, SAGA_RECON_RESERVED_NOT_COMPENSATED, SAGA_ACT_COMPENSATE,
                    SAGA_ACT_COMPENSATE);
    } else if (log->status == SAGA_COMPLETED) {
        if (compensated)
            n = add(out, n, SAGA_RECON_COMPENSATED_ON_COMPLETED, SAGA_ACT_COMPENSATE,
                    SAGA_ACT_NONE);
        else if (reserved && !confirmed && !log->without_confirm)
            n = add(out, n, SAGA_RECON_RESERVED_NOT_CONFIRMED, SAGA_ACT_CONFIRM,
                    SAGA_ACT_CONFIRM);
    }
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE; a++) {
        if (seen->outcome[a] != SAGA_OUT_NONE && log->attempts[a] == 0)
            n = add(out, n, SAGA_RECON_UNKNOWN_RECORD, (saga_action)a, SAGA_ACT_NONE);
        if (seen->outcome[a] == SAGA_OUT_NONE && (log->outcome[a] == SAGA_OUT_OK ||
                                                  log->outcome[a] == SAGA_OUT_REJECTED))
            n = add(out, n, SAGA_RECON_NOT_RECORDED, (saga_action)a, SAGA_ACT_NONE);
    }
    return n;
}
