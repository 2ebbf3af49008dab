/*
 * file.h - reading a whole file into memory: the one way every program does
 * it (config files, saga specs, sagactl's --input @FILE).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Every caller has a size limit, so the limit is part of the call: reading
 * stops one byte past it, which tells "too large" from "exactly full" and
 * bounds what an endless source (/dev/zero, a pipe) can cost. Messages name
 * the path and the system's reason, worded so callers pass them on as they
 * are.
 */
#ifndef SAGA_FILE_H
#define SAGA_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

/*
 * Reads the file at path. On success returns 0, *buf receives the contents
 * (owned: free(); NUL-terminated after *len bytes, though the contents may
 * themselves hold NUL bytes) and *len their size. On failure *buf is NULL
 * and the return is:
 *   SAGA_EIO     `could not open "PATH": REASON` or `could not read "PATH":
 *                REASON` (REASON is strerror's text)
 *   SAGA_ELIMIT  `"PATH" is larger than the limit of MAX bytes`; *len is
 *                then max + 1 (the file holds at least that many bytes)
 *   SAGA_ENOMEM
 */
int saga_file_read(const char *path, size_t max, char **buf, size_t *len,
                   saga_error *err);

/* The same from an open stream (stdin for "@-"), which is left open; name
 * stands for the path in messages. */
int saga_file_read_stream(FILE *f, const char *name, size_t max, char **buf,
                          size_t *len, saga_error *err);

#endif
