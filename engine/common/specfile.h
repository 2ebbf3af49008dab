/*
 * specfile.h - reading a saga spec from a file.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * The parser (core/spec.h) works on bytes so that it stays pure and can be
 * fuzzed; this is the thin I/O half for sagactl and the tests.
 */
#ifndef SAGA_SPECFILE_H
#define SAGA_SPECFILE_H

#include "error.h"
#include "spec.h"

/* Reads a file and calls saga_spec_parse. A file that cannot be read
 * yields SAGA_EIO with err set and nothing added to diag. */
int saga_spec_load(const char *path, saga_spec **out, saga_diag *diag,
                   saga_error *err);

#endif
