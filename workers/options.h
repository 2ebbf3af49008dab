/*
 * options.h - a worker's settings: the configuration keys every participant
 * understands (examples/worker.conf documents each one) and their
 * translation into a saga_worker_config.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * Reading them - defaults, --config file, SAGA_* environment, flags, in that
 * order of precedence - is engine/config.c's job, shared with sagad, so a
 * worker and the coordinator are configured, validated and printed
 * (--print-config) the same way.
 */
#ifndef SAGA_WORKER_OPTIONS_H
#define SAGA_WORKER_OPTIONS_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "worker.h"

#define SAGA_WORKER_MAX_KEYS 24

/* Fills keys (capacity SAGA_WORKER_MAX_KEYS) with the worker keys, http.listen
 * defaulting to http_listen (borrowed; NULL means "off"). Returns the count.
 * The table must outlive any saga_config made from it. */
size_t saga_worker_keys(saga_config_key *keys, const char *http_listen);

/*
 * Fills cfg for participant (borrowed) from a loaded configuration c
 * (borrowed: cfg's strings point into it, so c must outlive cfg), and the
 * log settings. Returns 0 or SAGA_EINVAL (an unknown action in fault.ignore
 * or fault.actions, too many kafka.* keys) with err naming the key.
 */
int saga_worker_config_from(saga_worker_config *cfg, saga_log_level *level,
                            saga_log_format *format, const saga_config *c,
                            const char *participant, saga_error *err);

/* An argument vector with some entries rewritten. */
typedef struct saga_worker_argv {
    char **argv;  /* owned array; entries borrowed or in owned */
    int argc;
    char **owned; /* the rewritten entries */
    int n_owned;
} saga_worker_argv;

/*
 * Rewrites the older `--kafka KEY=VALUE` / `--kafka=KEY=VALUE` spelling into
 * the configuration's `--kafka.KEY=VALUE`, copying everything else. Returns
 * 0, or SAGA_EINVAL (a --kafka without KEY=VALUE) / SAGA_ENOMEM with err
 * set. Free out with saga_worker_argv_free.
 */
int saga_worker_argv_rewrite(saga_worker_argv *out, int argc, char **argv, saga_error *err);
void saga_worker_argv_free(saga_worker_argv *a);

#endif
