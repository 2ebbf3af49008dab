/*
 * specfile.c - saga_spec_load (see specfile.h).
 */
#include "specfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int saga_spec_load(const char *path, saga_spec **out, saga_diag *diag,
                   saga_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return saga_error_set(err, SAGA_EIO, "could not open \"%s\": %s", path,
                              strerror(errno));
    /* One byte more than the limit tells "too large" from "exactly full". */
    size_t cap = SAGA_SPEC_MAX_FILE_BYTES + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    while (len < cap) {
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    int rc;
    if (ferror(f))
        rc = saga_error_set(err, SAGA_EIO, "could not read \"%s\": %s", path,
                            strerror(errno));
    else
        rc = saga_spec_parse(path, buf, len, out, diag, err);
    free(buf);
    fclose(f);
    return rc;
}
