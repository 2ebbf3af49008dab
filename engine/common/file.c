/*
 * file.c - saga_file_read (see file.h).
 *
 * The buffer grows by doubling rather than being allocated at the limit up
 * front: config files and specs are a few kilobytes against limits of a
 * megabyte, and sagactl reads one per command.
 */
#include "file.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CHUNK 4096

int saga_file_read_stream(FILE *f, const char *name, size_t max, char **buf,
                          size_t *len, saga_error *err)
{
    *buf = NULL;
    *len = 0;
    size_t want = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1, cap = 0, n = 0;
    char *p = NULL;
    while (n < want) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : FIRST_CHUNK;
            if (ncap > want)
                ncap = want;
            char *q = realloc(p, ncap + 1);
            if (!q) {
                free(p);
                return saga_error_set(err, SAGA_ENOMEM, "out of memory");
            }
            p = q;
            cap = ncap;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(p);
        return saga_error_set(err, SAGA_EIO, "could not read \"%s\": %s", name,
                              strerror(e));
    }
    if (n > max) {
        free(p);
        *len = n;
        return saga_error_set(err, SAGA_ELIMIT, "\"%s\" is larger than the "
                              "limit of %zu bytes", name, max);
    }
    if (!p && !(p = malloc(1)))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    p[n] = '\0';
    *buf = p;
    *len = n;
    return 0;
}

int saga_file_read(const char *path, size_t max, char **buf, size_t *len,
                   saga_error *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return saga_error_set(err, SAGA_EIO, "could not open \"%s\": %s", path,
                              strerror(errno));
    int rc = saga_file_read_stream(f, path, max, buf, len, err);
    fclose(f);
    return rc;
}
