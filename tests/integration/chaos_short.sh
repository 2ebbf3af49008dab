#!/bin/sh
# chaos_short.sh - the chaos suite's short run inside `make test`: 80 sagas
# of both example specs, one fault of each of six kinds (kill -9 of a sagad
# and of a worker, Kafka and PostgreSQL restarts, a participant slower than
# the step timeout, a burst of poison on every topic) on top of the workers'
# fault flags, then the full set of assertions of tests/chaos/verify.sh
# (nothing lost, every saga terminal within the bound, nothing applied
# twice, barriers, participants' checks, empty outbox, dead letters =
# injected poison). The long profile (make chaos PROFILE=long) adds the
# other three kinds and the scale. SEED (default: random, printed) replays a run:
#   SEED=N sh tests/integration/chaos_short.sh
# It restarts the stack's PostgreSQL and Kafka and brings both back up
# before it returns, pass or fail.
CHAOS_PROFILE=short exec sh "$(dirname "$0")/../chaos/run.sh" "${SEED:-}"
