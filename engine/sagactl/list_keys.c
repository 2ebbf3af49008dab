/*
 * list_keys.c - `sagactl list --tag K=V --where input.PATH=VALUE`: business
 * keys turned into the two JSON objects saga_query_list matches by
 * containment (tags @> ..., input @> ...), which the GIN indexes of
 * schema/005 answer among millions of sagas.
 *
 * A --where value is JSON when it parses as a JSON scalar (2, true, null,
 * "2" with the quotes) and a string otherwise, so input.qty=2 finds the
 * number and input.sku=WIDGET the string without a type flag; a dotted
 * path becomes nested objects (input.address.city=Paris).
 */
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"
#include "tags.h"

#define MAX_WHERE 16

static json_t *where_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v && !json_is_object(v) && !json_is_array(v))
        return v;
    json_decref(v);
    return json_string(text);
}

/* Sets path (dotted, after "input.") to value inside obj. */
static int where_put(json_t *obj, const char *path, json_t *value, saga_error *err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *at = obj;
    char *save = NULL;
    char *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            if (json_object_get(at, part)) {
                json_decref(value);
                return saga_error_set(err, SAGA_EINVAL, "--where: input.%s given twice", path);
            }
            json_object_set_new(at, part, value);
            return 0;
        }
        json_t *child = json_object_get(at, part);
        if (!json_is_object(child)) {
            child = json_object();
            json_object_set_new(at, part, child);
        }
        at = child;
        part = next;
    }
    json_decref(value);
    return saga_error_set(err, SAGA_EINVAL, "--where: empty field path");
}

static int parse_where(const char *w, json_t *obj, saga_error *err)
{
    const char *eq = strchr(w, '=');
    size_t plen = eq ? (size_t)(eq - w) : 0;
    if (!eq || strncmp(w, "input.", 6) != 0 || plen <= 6 || plen > 400 ||
        w[plen - 1] == '.' || strstr(w, "..") != NULL) {
        saga_error_set(err, SAGA_EINVAL, "--where: expected input.FIELD=VALUE, got \"%.80s\"",
                       w);
        saga_error_hint(err, "e.g. --where input.sku=WIDGET (equality on an input field; "
                             "a.b for nested fields)");
        return SAGA_EINVAL;
    }
    char path[512];
    snprintf(path, sizeof path, "%.*s", (int)(plen - 6), w + 6);
    return where_put(obj, path, where_value(eq + 1), err);
}

/* Dumps obj into *out (owned) when it has members. */
static int dump_if_any(json_t *obj, char **out, saga_error *err)
{
    *out = NULL;
    if (json_object_size(obj) == 0)
        return 0;
    if (!(*out = json_dumps(obj, JSON_COMPACT)))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    return 0;
}

int cli_list_keys(const cli_args *a, char **tags_json, char **input_json, saga_error *err)
{
    const char *vals[MAX_WHERE + 1];
    json_t *tags = json_object(), *input = json_object();
    *tags_json = *input_json = NULL;
    int rc = tags && input ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
    size_t n = rc ? 0 : cli_values(a, "tag", vals, MAX_WHERE + 1);
    if (n > SAGA_TAGS_MAX)
        rc = saga_error_set(err, SAGA_EINVAL, "--tag: more than %d tags", SAGA_TAGS_MAX);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = saga_tag_parse(vals[i], tags, err);
    size_t m = rc ? 0 : cli_values(a, "where", vals, MAX_WHERE + 1);
    if (m > MAX_WHERE)
        rc = saga_error_set(err, SAGA_EINVAL, "--where: more than %d conditions", MAX_WHERE);
    for (size_t i = 0; rc == 0 && i < m; i++)
        rc = parse_where(vals[i], input, err);
    if (rc == 0)
        rc = dump_if_any(tags, tags_json, err);
    if (rc == 0)
        rc = dump_if_any(input, input_json, err);
    json_decref(tags);
    json_decref(input);
    return rc;
}
