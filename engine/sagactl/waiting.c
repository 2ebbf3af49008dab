/*
 * waiting.c - "what is this saga waiting for?", in one sentence.
 *
 * list, show and stuck all answer it the same way, from the live step rows
 * rather than the stuck_reason stored when the engine flagged the saga:
 * retries go on after flagging, so the stored text's attempt number and
 * error go stale, while the step rows are always current. The wording
 * matches the engine's stuck reasons so both read alike.
 */
#include <string.h>

#include "sagactl.h"

void cli_waiting_from(cli *c, const PGresult *r, int row, int col,
                      const char *def_name, int def_version, cli_waiting *w)
{
    memset(w, 0, sizeof *w);
    if (cli_null(r, row, col))
        return;
    w->any = true;
    snprintf(w->step, sizeof w->step, "%s", cli_get(r, row, col));
    snprintf(w->participant, sizeof w->participant, "%s",
             cli_participant(c, def_name, def_version, w->step));
    snprintf(w->action, sizeof w->action, "%s", cli_get(r, row, col + 1));
    w->attempt = (int)cli_get_i64(r, row, col + 2);
    w->in_flight = cli_get(r, row, col + 3)[0] == 't';
    w->due_ms = cli_get_i64(r, row, col + 4);
    snprintf(w->last_error, sizeof w->last_error, "%s", cli_get(r, row, col + 5));
    w->error_ms = cli_get_i64(r, row, col + 6);
    w->signal = w->in_flight && cli_signal_wait(c, def_name, def_version, w->step, w->due_ms,
                                                w->signal_text, sizeof w->signal_text);
}

void cli_waiting_text(const cli *c, const cli_waiting *w, char *buf, size_t cap)
{
    if (!w->any) {
        snprintf(buf, cap, "no command pending");
        return;
    }
    char err[SAGA_MACHINE_ERROR_MAX + SAGA_TIME_TEXT_MAX + 32] = "";
    if (w->last_error[0]) {
        char when[SAGA_TIME_TEXT_MAX] = "";
        if (w->error_ms) {
            cli_time_text(c, w->error_ms, when, sizeof when);
            snprintf(err, sizeof err, ", last error \"%s\" %s%s", w->last_error,
                     c->utc ? "at " : "", when);
        } else {
            snprintf(err, sizeof err, ", last error \"%s\"", w->last_error);
        }
    }
    if (w->signal)
        snprintf(buf, cap, "%s", w->signal_text);
    else if (w->in_flight)
        snprintf(buf, cap, "awaiting %s %s reply, attempt %d%s", w->participant,
                 w->action, w->attempt, err);
    else
        snprintf(buf, cap, "waiting to re-send %s %s after attempt %d%s",
                 w->participant, w->action, w->attempt, err);
}
