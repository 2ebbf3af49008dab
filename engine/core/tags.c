/*
 * tags.c - the rules for saga tags and the tags of a new saga (tags.h).
 *
 * Keys are restricted (no '=', no spaces) because operators type them as
 * "key=value" on a command line and read them in tables; values are free
 * text within a size bound, because order ids and customer names are. A
 * spec template renders to a value the same way a payload string does
 * (template.c), and a value that is not a string is kept as its compact
 * JSON text, so "${input.qty}" tags "2".
 */
#include "tags.h"

#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "utf8.h"

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

int saga_tag_key_check(const char *key, saga_error *err)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0)
        return saga_error_set(err, SAGA_EINVAL, "tag key is empty");
    if (n > SAGA_TAG_KEY_MAX)
        return saga_error_set(err, SAGA_EINVAL,
                              "tag key is %zu bytes, longer than %d", n,
                              SAGA_TAG_KEY_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!key_char(key[i])) {
            saga_error_set(err, SAGA_EINVAL,
                           "tag key \"%.*s\" has a character not allowed "
                           "at byte %zu",
                           (int)(n > 64 ? 64 : n), key, i + 1);
            saga_error_hint(err, "tag keys are letters, digits, '_', '-' "
                                 "and '.'");
            return SAGA_EINVAL;
        }
    }
    return 0;
}

int saga_tag_value_check(const char *key, const char *value, saga_error *err)
{
    if (!saga_utf8_valid(value))
        return saga_error_set(err, SAGA_EINVAL, "tag %s: value is not UTF-8",
                              key);
    size_t n = strlen(value);
    if (n > SAGA_TAG_VALUE_MAX)
        return saga_error_set(err, SAGA_EINVAL,
                              "tag %s: value is %zu bytes, longer than %d", key,
                              n, SAGA_TAG_VALUE_MAX);
    return 0;
}

int saga_tag_parse(const char *kv, json_t *obj, saga_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        saga_error_set(err, SAGA_EINVAL, "tag \"%s\": expected key=value", kv);
        saga_error_hint(err, "e.g. --tag order=o-1");
        return SAGA_EINVAL;
    }
    size_t klen = (size_t)(eq - kv);
    char key[SAGA_TAG_KEY_MAX + 2];
    if (klen > SAGA_TAG_KEY_MAX)
        klen = SAGA_TAG_KEY_MAX + 1; /* reported as too long below */
    memcpy(key, kv, klen);
    key[klen] = '\0';
    int rc = saga_tag_key_check(key, err);
    if (rc == 0)
        rc = saga_tag_value_check(key, eq + 1, err);
    if (rc) {
        saga_error_hint(err, "write a tag as key=value, e.g. --tag order=o-1");
        return rc;
    }
    if (json_object_get(obj, key))
        return saga_error_set(err, SAGA_EINVAL, "tag %s given twice", key);
    if (json_object_size(obj) >= SAGA_TAGS_MAX)
        return saga_error_set(err, SAGA_EINVAL, "more than %d tags",
                              SAGA_TAGS_MAX);
    if (json_object_set_new(obj, key, json_string(eq + 1)))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    return 0;
}

int saga_tags_check(const json_t *tags, saga_error *err)
{
    if (!tags || json_is_null(tags))
        return 0;
    if (!json_is_object(tags))
        return saga_error_set(err, SAGA_EINVAL, "tags: expected an object");
    if (json_object_size(tags) > SAGA_TAGS_MAX)
        return saga_error_set(err, SAGA_EINVAL, "more than %d tags",
                              SAGA_TAGS_MAX);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)tags, key, v) {
        int rc = saga_tag_key_check(key, err);
        if (rc)
            return rc;
        if (!json_is_string(v))
            return saga_error_set(err, SAGA_EINVAL,
                                  "tag %s: value must be a string", key);
        if ((rc = saga_tag_value_check(key, json_string_value(v), err)))
            return rc;
    }
    return 0;
}

/* The text of a rendered template: a string as is, null as absent (NULL),
 * anything else as compact JSON. Owned (free). */
static char *rendered_text(const json_t *v)
{
    if (json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int render_spec_tags(const saga_spec *spec, const json_t *input,
                            const char *saga_id, json_t *out, saga_error *err)
{
    saga_template_ctx ctx = {.saga_id = saga_id, .saga_name = spec->name,
                             .input = input, .spec = spec, .results = NULL};
    const char *key;
    json_t *tmpl;
    json_object_foreach(spec->tags, key, tmpl) {
        json_t *v = saga_template_render(tmpl, &ctx, err);
        if (!v)
            return err ? err->code : SAGA_EINVAL;
        char *text = rendered_text(v);
        json_decref(v);
        if (!text)
            continue;
        int rc = saga_tag_value_check(key, text, err);
        if (rc == 0 && json_object_set_new(out, key, json_string(text)))
            rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
        free(text);
        if (rc)
            return rc;
    }
    return 0;
}

int saga_tags_build(const saga_spec *spec, const json_t *input,
                    const char *saga_id, const json_t *given, json_t **out,
                    saga_error *err)
{
    *out = NULL;
    int rc = saga_tags_check(given, err);
    if (rc)
        return rc;
    json_t *tags = json_object();
    if (!tags)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (spec->tags)
        rc = render_spec_tags(spec, input, saga_id, tags, err);
    if (rc == 0 && json_is_object(given) &&
        json_object_update(tags, (json_t *)given))
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (rc == 0 && json_object_size(tags) > SAGA_TAGS_MAX)
        rc = saga_error_set(err, SAGA_EINVAL, "more than %d tags (%zu from the "
                            "spec and the start request together)",
                            SAGA_TAGS_MAX, json_object_size(tags));
    if (rc) {
        json_decref(tags);
        return rc;
    }
    *out = tags;
    return 0;
}
