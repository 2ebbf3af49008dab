/*
 * specfile.c - saga_spec_load (see specfile.h).
 */
#include "specfile.h"

#include "file.h"

#include <stdlib.h>

int saga_spec_load(const char *path, saga_spec **out, saga_diag *diag,
                   saga_error *err)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = saga_file_read(path, SAGA_SPEC_MAX_FILE_BYTES, &buf, &len, err);
    /* An oversized file is a spec error like any other, worded (and put in
     * diag) by the parser, which refuses the length before reading a byte:
     * it is given the length alone. */
    if (rc == SAGA_ELIMIT)
        return saga_spec_parse(path, NULL, len, out, diag, err);
    if (rc < 0)
        return rc;
    rc = saga_spec_parse(path, buf, len, out, diag, err);
    free(buf);
    return rc;
}
