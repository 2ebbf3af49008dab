/*
 * fuzz_template.c - libFuzzer target for payload template rendering
 * (engine/template.h) on arbitrary templates, saga inputs and reserve
 * results.
 *
 * fuzz_spec reaches templates only through specs that validate; this target
 * renders what validation would never let through, against inputs chosen by
 * the fuzzer, because at run time the input and the participants' results
 * are the untrusted part. Input: up to three NUL-separated JSON texts, the
 * template, the saga input and the first step's reserve result.
 * Properties checked (abort on violation), beyond no crash/leak/UB:
 *  - a failed render says why, with a known error code;
 *  - rendering is deterministic;
 *  - a template without "$" renders to itself;
 *  - substitution is not recursive: "${input.K}" renders to exactly the
 *    input's value, and "<${input.K}>" to "<" + its text + ">", whatever
 *    "${...}" the value itself contains (no template injection from input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "template.h"

static saga_spec *spec;

static const char SPEC[] =
    "{\"name\": \"t\", \"version\": 1,"
    " \"steps\": [{\"name\": \"a\", \"participant\": \"p\","
    "  \"reserve\": {\"command\": \"go\"}, \"compensate\": {\"command\": \"undo\"}},"
    " {\"name\": \"b_2\", \"participant\": \"p\", \"after\": [\"a\"],"
    "  \"reserve\": {\"command\": \"go\"}, \"compensate\": {\"command\": \"undo\"}}]}";

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_template: property violated: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    saga_error err;
    if (saga_spec_parse("t.json", SPEC, strlen(SPEC), &spec, NULL, &err))
        fail(err.msg);
    return 0;
}

static json_t *render(const json_t *tmpl, const saga_template_ctx *ctx)
{
    saga_error err;
    saga_error_clear(&err);
    json_t *out = saga_template_render(tmpl, ctx, &err);
    if (!out) {
        if (!err.msg[0])
            fail("a render failed without a message");
        if (err.code != SAGA_EINVAL && err.code != SAGA_ELIMIT && err.code != SAGA_ENOMEM)
            fail("a render failed with an undocumented code");
    }
    return out;
}

static bool plain_key(const char *k)
{
    if (!*k || strlen(k) > 64)
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
              (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
            return false;
    return true;
}

static void check_not_recursive(const json_t *input, const saga_template_ctx *ctx)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)input, key, v) {
        if (!plain_key(key))
            continue;
        char ref[96];
        snprintf(ref, sizeof ref, "${input.%s}", key);
        json_t *t = json_string(ref);
        json_t *out = render(t, ctx);
        if (out && !json_equal(out, v) && !(json_is_null(out) && json_is_null(v)))
            fail("a whole-string reference does not render to the input value");
        json_decref(out);
        json_decref(t);
        if (!json_is_string(v))
            continue;
        snprintf(ref, sizeof ref, "<${input.%s}>", key);
        t = json_string(ref);
        out = render(t, ctx);
        size_t n = json_string_length(v);
        if (out && (!json_is_string(out) || json_string_length(out) != n + 2 ||
                    memcmp(json_string_value(out) + 1, json_string_value(v), n) != 0))
            fail("an interpolated reference is not the input's text");
        json_decref(out);
        json_decref(t);
    }
}

static json_t *part(const uint8_t **data, size_t *size)
{
    const uint8_t *end = memchr(*data, '\0', *size);
    size_t n = end ? (size_t)(end - *data) : *size;
    json_t *v = json_loadb((const char *)*data, n, JSON_DECODE_ANY, NULL);
    *data += end ? n + 1 : n;
    *size -= end ? n + 1 : n;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    json_t *tmpl = part(&data, &size);
    json_t *input = part(&data, &size);
    json_t *result = part(&data, &size);
    if (!tmpl)
        tmpl = json_string((const char *)"${input.sku}");
    if (!json_is_object(input)) {
        json_decref(input);
        input = json_pack("{s:s, s:i}", "sku", "A-1", "qty", 2);
    }
    const json_t *results[2] = {json_is_object(result) ? result : NULL, NULL};
    saga_template_ctx ctx = {.saga_id = "0b3c9a53-7c34-4f7e-9a55-2f1e0e0d8a11",
                             .saga_name = "t", .input = input, .spec = spec,
                             .results = results};

    json_t *a = render(tmpl, &ctx);
    json_t *b = render(tmpl, &ctx);
    if ((a == NULL) != (b == NULL) || (a && !json_equal(a, b)))
        fail("rendering is not deterministic");
    char *text = json_dumps(tmpl, JSON_ENCODE_ANY | JSON_COMPACT);
    if (a && text && !strchr(text, '$') && !json_equal(a, tmpl))
        fail("a template without references does not render to itself");
    free(text);
    json_decref(a);
    json_decref(b);

    check_not_recursive(input, &ctx);

    json_decref(tmpl);
    json_decref(input);
    json_decref(result);
    return 0;
}
