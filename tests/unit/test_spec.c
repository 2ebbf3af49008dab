/*
 * test_spec.c - the spec parser and validator (engine/spec.c).
 *
 * Most rules are covered twice: by a focused case here that asserts on the
 * parsed structure or on one message, and by a file under
 * tests/specs/invalid/ whose complete output must match the .expected file
 * beside it (test_invalid_files), which pins positions, paths, wording and
 * hints. Tests run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "spec.h"
#include "specfile.h"

/* --- helpers ----------------------------------------------------------------- */

typedef struct parsed {
    saga_spec *spec;
    saga_diag diag;
    saga_error err;
    int rc;
} parsed;

static void parse_text(parsed *p, const char *text)
{
    saga_diag_init(&p->diag);
    p->rc = saga_spec_parse("t.json", text, strlen(text), &p->spec, &p->diag,
                            &p->err);
}

static void parsed_free(parsed *p)
{
    saga_spec_free(p->spec);
    saga_diag_free(&p->diag);
}

/* True when some diagnostic line contains needle. */
static bool diag_has(const parsed *p, const char *needle)
{
    for (size_t i = 0; i < p->diag.n; i++)
        if (strstr(p->diag.lines[i], needle))
            return true;
    return false;
}

static void print_diag(const parsed *p)
{
    for (size_t i = 0; i < p->diag.n; i++)
        fprintf(stderr, "  | %s\n", p->diag.lines[i]);
}

/* Parses text expecting failure with a line containing needle. */
static void expect_error(const char *text, const char *needle)
{
    parsed p;
    parse_text(&p, text);
    if (p.rc == 0 || !diag_has(&p, needle)) {
        fprintf(stderr, "expected an error containing: %s\n", needle);
        print_diag(&p);
    }
    assert_int_not_equal(p.rc, 0);
    assert_null(p.spec);
    assert_true(diag_has(&p, needle));
    parsed_free(&p);
}

static saga_spec *expect_valid(const char *text)
{
    parsed p;
    parse_text(&p, text);
    if (p.rc != 0)
        print_diag(&p);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.diag.n, 0);
    saga_diag_free(&p.diag);
    return p.spec;
}

static saga_spec *load_valid(const char *path)
{
    saga_diag d;
    saga_error err;
    saga_spec *spec;
    saga_diag_init(&d);
    int rc = saga_spec_load(path, &spec, &d, &err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  | %s\n", d.lines[i]);
    }
    assert_int_equal(rc, 0);
    saga_diag_free(&d);
    return spec;
}

/* A one-step spec with `extra` spliced into the step object. */
#define STEP1(extra)                                                           \
    "{\"name\": \"s\", \"version\": 1, \"steps\": [{\"name\": \"a\", "         \
    "\"participant\": \"p\", \"reserve\": {\"command\": \"go\"}, "             \
    "\"compensate\": {\"command\": \"undo\"}" extra "}]}"

/* --- the examples and valid files ---------------------------------------------- */

static void test_order_checkout(void **state)
{
    (void)state;
    saga_spec *s = load_valid("sagas/order_checkout.json");
    assert_string_equal(s->name, "order_checkout");
    assert_int_equal(s->version, 1);
    assert_int_equal(s->n_inputs, 5);
    assert_string_equal(s->inputs[0].name, "order_id");
    assert_int_equal(s->inputs[2].type, SAGA_FIELD_INTEGER);
    assert_true(s->inputs[4].required);
    assert_int_equal(s->timeout_ms, 5000);
    assert_int_equal(s->stuck_after_ms, 60000);
    assert_int_equal(s->retry.max_attempts, 3);
    assert_int_equal(s->retry.initial_backoff_ms, 200);
    assert_int_equal(s->retry.max_backoff_ms, 5000);
    assert_true(s->retry.multiplier == 2.0);
    assert_true(s->retry.jitter == 0.2);

    assert_int_equal(s->n_steps, 2);
    const saga_step_def *inv = &s->steps[0], *pay = &s->steps[1];
    assert_string_equal(inv->name, "reserve_inventory");
    assert_string_equal(inv->topic, "saga.inventory.commands");
    assert_int_equal(inv->n_after, 0);
    assert_string_equal(inv->reserve.command, "reserve_stock");
    assert_string_equal(inv->confirm.command, "commit_stock");
    assert_string_equal(inv->compensate.command, "release_stock");
    assert_string_equal(json_string_value(json_object_get(inv->reserve.payload,
                                                          "sku")),
                        "${input.sku}");
    assert_int_equal(pay->n_after, 1);
    assert_int_equal(pay->after[0], 0);
    assert_string_equal(pay->topic, "saga.payment.commands");
    assert_int_equal(pay->timeout_ms, 5000);
    assert_false(pay->irreversible);
    assert_int_equal(saga_spec_step_index(s, "reserve_payment"), 1);
    assert_int_equal(saga_spec_step_index(s, "nope"), -1);

    char hex[65];
    saga_sha256_hex(s->canonical, strlen(s->canonical), hex);
    assert_string_equal(hex, s->sha256);
    saga_spec_free(s);
}

static void test_order_checkout_parallel(void **state)
{
    (void)state;
    saga_spec *s = load_valid("sagas/order_checkout_parallel.json");
    assert_int_equal(s->n_steps, 3);
    assert_int_equal(s->steps[0].n_after, 0);
    assert_int_equal(s->steps[1].n_after, 0);
    assert_int_equal(s->steps[2].n_after, 2);
    assert_int_equal(s->steps[2].after[0], 0);
    assert_int_equal(s->steps[2].after[1], 1);
    assert_string_equal(s->steps[2].topic, "saga.shipping.commands");
    assert_null(s->steps[2].confirm.command);
    assert_true(json_is_null(s->steps[2].confirm.payload));
    assert_int_equal(s->steps[2].timeout_ms, 10000);
    saga_spec_free(s);
}

static void test_valid_files(void **state)
{
    (void)state;
    DIR *dir = opendir("tests/specs/valid");
    assert_non_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/specs/valid/%s", e->d_name);
        saga_spec_free(load_valid(path));
        n++;
    }
    closedir(dir);
    assert_true(n >= 3);
}

static void test_diamond_resolution(void **state)
{
    (void)state;
    saga_spec *s = load_valid("tests/specs/valid/diamond.json");
    assert_string_equal(s->steps[0].topic, "custom.alpha-commands");
    assert_int_equal(s->retry.max_attempts, 5);
    assert_int_equal(s->retry.initial_backoff_ms,
                     SAGA_SPEC_DEFAULT_INITIAL_BACKOFF_MS);
    /* a step's retry overrides field by field, over the defaults */
    assert_int_equal(s->steps[1].retry.max_attempts, 5);
    assert_int_equal(s->steps[1].retry.initial_backoff_ms, 50);
    assert_int_equal(s->steps[1].retry.max_backoff_ms, 400);
    assert_int_equal(s->steps[1].timeout_ms, 1500);
    assert_int_equal(s->steps[2].timeout_ms, SAGA_SPEC_DEFAULT_TIMEOUT_MS);
    assert_int_equal(s->steps[3].n_after, 2);
    assert_false(s->inputs[1].required);
    assert_int_equal(s->inputs[3].type, SAGA_FIELD_NUMBER);
    saga_spec_free(s);
}

static void test_builtin_defaults(void **state)
{
    (void)state;
    saga_spec *s = load_valid("tests/specs/valid/minimal.json");
    assert_string_equal(s->description, "");
    assert_int_equal(s->n_inputs, 0);
    assert_int_equal(s->timeout_ms, SAGA_SPEC_DEFAULT_TIMEOUT_MS);
    assert_int_equal(s->stuck_after_ms, SAGA_SPEC_DEFAULT_STUCK_AFTER_MS);
    assert_int_equal(s->retry.max_attempts, SAGA_SPEC_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(s->retry.max_backoff_ms, SAGA_SPEC_DEFAULT_MAX_BACKOFF_MS);
    assert_true(s->retry.multiplier == SAGA_SPEC_DEFAULT_MULTIPLIER);
    assert_true(s->retry.jitter == SAGA_SPEC_DEFAULT_JITTER);
    assert_int_equal(s->steps[0].retry.max_attempts,
                     SAGA_SPEC_DEFAULT_MAX_ATTEMPTS);
    /* a phase without payload sends {}, an absent phase has null */
    assert_true(json_is_object(s->steps[0].reserve.payload));
    assert_int_equal(json_object_size(s->steps[0].reserve.payload), 0);
    assert_true(json_is_null(s->steps[0].confirm.payload));
    /* defaults are not expanded into the canonical form */
    assert_null(strstr(s->canonical, "defaults"));
    saga_spec_free(s);
}

static void test_irreversible_valid(void **state)
{
    (void)state;
    saga_spec *s = load_valid("tests/specs/valid/irreversible_last.json");
    assert_true(s->steps[2].irreversible);
    assert_null(s->steps[2].compensate.command);
    assert_true(json_is_null(s->steps[2].compensate.payload));
    saga_spec_free(s);
}

/* --- every invalid file against its expected output -------------------------- */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static bool check_invalid_file(const char *json_path)
{
    char expected_path[512];
    snprintf(expected_path, sizeof expected_path, "%.*s.expected",
             (int)(strlen(json_path) - 5), json_path);
    char *expected = read_all(expected_path);
    if (!expected) {
        fprintf(stderr, "%s: missing %s\n", json_path, expected_path);
        return false;
    }

    saga_diag d;
    saga_error err;
    saga_spec *spec;
    saga_diag_init(&d);
    int rc = saga_spec_load(json_path, &spec, &d, &err);
    bool ok = rc != 0 && spec == NULL && d.n_errors > 0;

    size_t len = 0;
    for (size_t i = 0; i < d.n; i++)
        len += strlen(d.lines[i]) + 1;
    char *got = calloc(1, len + 1);
    for (size_t i = 0; i < d.n; i++) {
        strcat(got, d.lines[i]);
        strcat(got, "\n");
    }
    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "%s: output differs from %s\n--- expected\n%s--- got\n%s",
                json_path, expected_path, expected, got);
        ok = false;
    }
    if (rc == 0) {
        fprintf(stderr, "%s: parsed without errors\n", json_path);
        saga_spec_free(spec);
    }
    free(got);
    free(expected);
    saga_diag_free(&d);
    return ok;
}

static void test_invalid_files(void **state)
{
    (void)state;
    DIR *dir = opendir("tests/specs/invalid");
    assert_non_null(dir);
    struct dirent *e;
    int n = 0, bad = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/specs/invalid/%s", e->d_name);
        if (!check_invalid_file(path))
            bad++;
        n++;
    }
    closedir(dir);
    assert_true(n >= 20);
    assert_int_equal(bad, 0);
}

/* --- structure rules ----------------------------------------------------------- */

static void test_all_errors_reported(void **state)
{
    (void)state;
    parsed p;
    parse_text(&p, "{\"name\": \"X\", \"version\": 0, \"bogus\": 1, "
                   "\"steps\": [{\"name\": \"a\"}]}");
    assert_int_equal(p.rc, SAGA_EINVAL);
    /* name, version, bogus, participant, reserve, compensate */
    assert_int_equal(p.diag.n_errors, 6);
    assert_string_equal(p.err.msg, "t.json: 6 errors");
    /* sorted by position */
    assert_non_null(strstr(p.diag.lines[0], "t.json:1:10: name: invalid"));
    parsed_free(&p);
}

static void test_one_error_summary(void **state)
{
    (void)state;
    parsed p;
    parse_text(&p, "[]");
    assert_string_equal(p.err.msg, "t.json: 1 error");
    assert_int_equal(p.diag.n, 1);
    assert_string_equal(p.diag.lines[0],
                        "t.json:1:1: (root): a spec must be a JSON object, "
                        "got array");
    parsed_free(&p);
}

static void test_unknown_keys_hint(void **state)
{
    (void)state;
    expect_error(STEP1(", \"timout_ms\": 5"), "steps[0].timout_ms: unknown key");
    expect_error(STEP1(", \"timout_ms\": 5"), "hint: did you mean \"timeout_ms\"?");
    expect_error(STEP1(", \"zzz\": 5"), "hint: known keys: name, participant");
}

static void test_types_and_ranges(void **state)
{
    (void)state;
    expect_error(STEP1(", \"timeout_ms\": 0"),
                 "steps[0].timeout_ms: must be at least 1, got 0");
    expect_error(STEP1(", \"timeout_ms\": 1.5"),
                 "steps[0].timeout_ms: expected integer, got number");
    expect_error(STEP1(", \"retry\": {\"max_attempts\": 0}"),
                 "steps[0].retry.max_attempts: must be at least 1, got 0");
    expect_error(STEP1(", \"retry\": {\"multiplier\": 0.9}"),
                 "steps[0].retry.multiplier: must be at least 1, got 0.9");
    expect_error(STEP1(", \"retry\": {\"jitter\": -0.1}"),
                 "steps[0].retry.jitter: must be at least 0, got -0.1");
    expect_error(STEP1(", \"retry\": {\"initial_backoff_ms\": 10, "
                       "\"max_backoff_ms\": 5}"),
                 "steps[0].retry.max_backoff_ms: must not be less than "
                 "initial_backoff_ms (10), got 5");
    expect_error(STEP1(", \"irreversible\": 1"),
                 "steps[0].irreversible: expected boolean, got integer");
    expect_error(STEP1(", \"after\": {}"),
                 "steps[0].after: expected array, got object");
    /* multiplier and jitter accept integers */
    saga_spec_free(expect_valid(STEP1(", \"retry\": {\"multiplier\": 3, "
                                      "\"jitter\": 0}")));
}

static void test_identifiers(void **state)
{
    (void)state;
    expect_error("{\"name\": \"9lives\", \"version\": 1, \"steps\": []}",
                 "name: invalid saga name \"9lives\"");
    expect_error(STEP1(", \"topic\": \"\""), "steps[0].topic: invalid topic");
    char long_name[200];
    snprintf(long_name, sizeof long_name,
             "{\"name\": \"%064d\", \"version\": 1, \"steps\": []}", 0);
    long_name[10] = 'a';
    expect_error(long_name, "longer than the limit of 63");
}

static void test_after_semantics(void **state)
{
    (void)state;
    const char *three =
        "{\"name\": \"s\", \"version\": 1, \"steps\": ["
        "{\"name\": \"a\", \"participant\": \"p\", \"reserve\": {\"command\": "
        "\"go\"}, \"compensate\": {\"command\": \"undo\"}},"
        "{\"name\": \"b\", \"participant\": \"p\", \"after\": [], \"reserve\": "
        "{\"command\": \"go\"}, \"compensate\": {\"command\": \"undo\"}},"
        "{\"name\": \"c\", \"participant\": \"p\", \"reserve\": {\"command\": "
        "\"go\"}, \"compensate\": {\"command\": \"undo\"}}]}";
    saga_spec *s = expect_valid(three);
    assert_int_equal(s->steps[0].n_after, 0); /* first: root */
    assert_int_equal(s->steps[1].n_after, 0); /* []: root */
    assert_int_equal(s->steps[2].n_after, 1); /* absent: previous */
    assert_int_equal(s->steps[2].after[0], 1);
    saga_spec_free(s);
}

static void test_self_and_cycle(void **state)
{
    (void)state;
    expect_error(STEP1(", \"after\": [\"a\"]"),
                 "steps[0].after[0]: a step cannot run after itself");
    expect_error("{\"name\": \"s\", \"version\": 1, \"steps\": ["
                 "{\"name\": \"x\", \"participant\": \"p\", \"after\": [\"y\"],"
                 " \"reserve\": {\"command\": \"go\"}, \"compensate\": "
                 "{\"command\": \"undo\"}},"
                 "{\"name\": \"y\", \"participant\": \"p\", \"after\": [\"x\"],"
                 " \"reserve\": {\"command\": \"go\"}, \"compensate\": "
                 "{\"command\": \"undo\"}}]}",
                 "steps[1].after[0]: dependency cycle: y -> x -> y");
}

static void test_irreversible_rules(void **state)
{
    (void)state;
    /* irreversible with compensate absent is accepted */
    saga_spec *s = expect_valid(
        "{\"name\": \"s\", \"version\": 1, \"steps\": [{\"name\": \"a\", "
        "\"participant\": \"p\", \"reserve\": {\"command\": \"go\"}, "
        "\"irreversible\": true}]}");
    assert_true(s->steps[0].irreversible);
    assert_null(s->steps[0].compensate.command);
    saga_spec_free(s);
    expect_error(STEP1(", \"irreversible\": true"),
                 "an irreversible step cannot have a compensate command");
}

/* --- lexical rules -------------------------------------------------------------- */

static void test_positions_count_characters(void **state)
{
    (void)state;
    /* "é" and "€" are one column each although 2 and 3 bytes long */
    expect_error("{\"description\": \"\xc3\xa9\xe2\x82\xac\", \"x\": 1}",
                 "t.json:1:23: x: unknown key");
    expect_error("{\n\t\"x\": 1}", "t.json:2:2: x: unknown key");
    expect_error("{\r\n  \"x\": 1}", "t.json:2:3: x: unknown key");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_error("", "t.json:1:1: (root): unexpected end of file, expected a "
                     "value");
    expect_error("{\"a\": 1} x", "unexpected 'x' after the end of the JSON");
    expect_error("{\"a\" 1}", "expected ':' after the key, got '1'");
    expect_error("{\"a\": 01}", "leading zeros are not allowed");
    expect_error("{\"a\": -}", "invalid number: expected a digit");
    expect_error("{\"a\": 1.}", "expected a digit after '.'");
    expect_error("{\"a\": 1e}", "expected a digit in the exponent");
    expect_error("{\"a\": [1,]}", "t.json:1:10: a: expected a value after ','");
    expect_error("{\"a\": 1,}", "expected a key after ','");
    expect_error("{1: 2}", "expected a string key, got '1'");
    expect_error("{\"a\": \"\\x\"}", "invalid escape: backslash before 'x'");
    expect_error("{\"a\": \"\\u12\"}", "expected 4 hex digits");
    expect_error("{\"a\": \"\\ud800\"}", "unpaired surrogate");
    expect_error("{\"a\": \"\\udc00\"}", "unpaired surrogate");
    expect_error("{\"a\": \"\\u0000\"}", "\\u0000 is not allowed in strings");
    expect_error("{\"a\": 99999999999999999999}", "a: integer is out of range");
    expect_error("{\"a\": 1e999}", "a: number is out of range");
    expect_error("{\"a\": nul}", "unexpected word \"nul\"");
    expect_error("{\"a\": \"\xff\"}", "invalid UTF-8 in a string");
    expect_error("{\"a\": \"\xed\xa0\x80\"}", "invalid UTF-8 in a string");
    expect_error("{\"a\": \"\xc0\xaf\"}", "invalid UTF-8 in a string");
    expect_error("\xc3\xa9", "unexpected byte 0xc3, expected a value");
}

static void test_nul_bytes(void **state)
{
    (void)state;
    parsed p;
    saga_diag_init(&p.diag);
    p.rc = saga_spec_parse("t.json", "{\0}", 3, &p.spec, &p.diag, &p.err);
    assert_int_equal(p.rc, SAGA_EINVAL);
    assert_true(diag_has(&p, "t.json:1:2: (root): expected a string key, got "
                             "NUL byte"));
    parsed_free(&p);
    saga_diag_init(&p.diag);
    p.rc = saga_spec_parse("t.json", "{\"a\0\": 1}", 9, &p.spec, &p.diag,
                           &p.err);
    assert_true(diag_has(&p, "NUL byte in a string"));
    parsed_free(&p);
}

static void test_bom_and_escapes_accepted(void **state)
{
    (void)state;
    saga_spec *s = expect_valid(
        "\xef\xbb\xbf{\"name\": \"s\", \"version\": 1, \"description\": "
        "\"\\ud83d\\ude00 \\u00e9\\/\\\\\\\"\\b\\f\\n\\r\\t\", \"steps\": "
        "[{\"name\": \"a\", \"participant\": \"p\", \"reserve\": {\"command\": "
        "\"go\"}, \"compensate\": {\"command\": \"undo\"}}]}");
    assert_string_equal(s->description,
                        "\xf0\x9f\x98\x80 \xc3\xa9/\\\"\b\f\n\r\t");
    saga_spec_free(s);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    parsed p;
    parse_text(&p, "{\"a\": 1, \"a\": [2], \"a\": {\"b\": 3}}");
    /* two duplicates, one unknown key, three required keys missing */
    assert_int_equal(p.diag.n_errors, 6);
    assert_true(diag_has(&p, "t.json:1:10: a: duplicate key"));
    assert_true(diag_has(&p, "t.json:1:20: a: duplicate key"));
    assert_true(diag_has(&p, "hint: first given at line 1, column 2"));
    parsed_free(&p);
}

/* --- limits -------------------------------------------------------------------- */

static void test_file_size_limit(void **state)
{
    (void)state;
    size_t n = SAGA_SPEC_MAX_FILE_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    parsed p;
    saga_diag_init(&p.diag);
    p.rc = saga_spec_parse("big.json", big, n, &p.spec, &p.diag, &p.err);
    assert_int_equal(p.rc, SAGA_ELIMIT);
    assert_string_equal(p.diag.lines[0],
                        "big.json:1:1: (root): file is larger than the limit "
                        "of 1048576 bytes");
    parsed_free(&p);
    free(big);
}

static void test_error_cap(void **state)
{
    (void)state;
    char *text = malloc(64 * 1024);
    size_t len = (size_t)sprintf(text, "{");
    for (int i = 0; i < 150; i++)
        len += (size_t)sprintf(text + len, "%s\"k%d\": 1", i ? ", " : "", i);
    sprintf(text + len, "}");
    parsed p;
    parse_text(&p, text);
    assert_int_equal(p.diag.n_errors, SAGA_SPEC_MAX_ERRORS);
    /* 150 unknown keys + name, version, steps missing */
    assert_string_equal(p.err.msg, "t.json: 153 errors");
    assert_string_equal(p.diag.lines[p.diag.n - 1],
                        "t.json: 53 more errors not shown (at most 100 are "
                        "listed)");
    parsed_free(&p);
    free(text);
}

static void test_null_diag(void **state)
{
    (void)state;
    saga_spec *spec;
    saga_error err;
    int rc = saga_spec_parse("t.json", "{", 1, &spec, NULL, &err);
    assert_int_equal(rc, SAGA_EINVAL);
    assert_null(spec);
    assert_string_equal(err.msg, "t.json: 1 error");
}

static void test_missing_file(void **state)
{
    (void)state;
    saga_diag d;
    saga_error err;
    saga_spec *spec;
    saga_diag_init(&d);
    int rc = saga_spec_load("tests/specs/no/such.json", &spec, &d, &err);
    assert_int_equal(rc, SAGA_EIO);
    assert_non_null(strstr(err.msg, "could not open"));
    assert_int_equal(d.n, 0);
}

/* --- canonical form ---------------------------------------------------------------- */

static void test_canonical_is_stable(void **state)
{
    (void)state;
    saga_spec *a = expect_valid(
        "{\"version\": 1, \"name\": \"s\", \"steps\": [{\"participant\": "
        "\"p\", \"name\": \"a\", \"reserve\": {\"payload\": {\"z\": 1, \"y\": "
        "0.5}, \"command\": \"go\"}, \"compensate\": {\"command\": "
        "\"undo\"}}]}");
    saga_spec *b = expect_valid(
        "{\n  \"name\": \"s\",\n  \"version\": 1,\n  \"steps\": [\n    {\n"
        "      \"name\": \"a\", \"participant\": \"p\",\n      \"reserve\": "
        "{\"command\": \"go\", \"payload\": {\"y\": 5e-1, \"z\": 1}},\n"
        "      \"compensate\": {\"command\": \"undo\"}\n    }\n  ]\n}\n");
    assert_string_equal(a->canonical, b->canonical);
    assert_string_equal(a->sha256, b->sha256);
    assert_string_equal(a->canonical,
                        "{\"name\":\"s\",\"steps\":[{\"compensate\":{\"command\":"
                        "\"undo\"},\"name\":\"a\",\"participant\":\"p\","
                        "\"reserve\":{\"command\":\"go\",\"payload\":{\"y\":0.5,"
                        "\"z\":1}}}],\"version\":1}");
    /* parsing the canonical form gives it back unchanged */
    saga_spec *c = expect_valid(a->canonical);
    assert_string_equal(c->canonical, a->canonical);
    saga_spec_free(a);
    saga_spec_free(b);
    saga_spec_free(c);
}

static void test_canonical_differs(void **state)
{
    (void)state;
    saga_spec *a = expect_valid(STEP1(""));
    saga_spec *b = expect_valid(STEP1(", \"timeout_ms\": 10"));
    assert_string_not_equal(a->sha256, b->sha256);
    saga_spec_free(a);
    saga_spec_free(b);
}

/* --- input checks ----------------------------------------------------------------- */

static void check_input(const saga_spec *s, const char *input, int want_rc,
                        const char *want_msg, const char *want_hint)
{
    json_t *in = json_loads(input, 0, NULL);
    saga_error err;
    assert_non_null(in);
    int rc = saga_spec_check_input(s, in, &err);
    if (rc != want_rc || (want_msg && strcmp(err.msg, want_msg) != 0))
        fprintf(stderr, "input %s: rc %d msg \"%s\"\n", input, rc, err.msg);
    assert_int_equal(rc, want_rc);
    if (want_msg)
        assert_string_equal(err.msg, want_msg);
    if (want_hint)
        assert_string_equal(err.hint, want_hint);
    json_decref(in);
}

static void test_check_input(void **state)
{
    (void)state;
    saga_spec *s = load_valid("tests/specs/valid/diamond.json");
    const char *ok = "{\"order\": {}, \"weight\": 1.5}";
    check_input(s, ok, 0, NULL, NULL);
    check_input(s, "{\"order\": {}, \"weight\": 2, \"note\": null, "
                   "\"express\": true, \"tags\": []}",
                0, NULL, NULL);
    check_input(s, "{\"weight\": 1}", SAGA_EINVAL,
                "input.order: required field missing", NULL);
    check_input(s, "{\"order\": [], \"weight\": 1}", SAGA_EINVAL,
                "input.order: expected object, got array", NULL);
    check_input(s, "{\"order\": {}, \"weight\": \"1\"}", SAGA_EINVAL,
                "input.weight: expected number, got string", NULL);
    check_input(s, "{\"order\": {}, \"weight\": 1, \"express\": 1}",
                SAGA_EINVAL, "input.express: expected boolean, got integer",
                NULL);
    check_input(s, "{\"order\": {}, \"weight\": 1, \"nots\": \"x\"}",
                SAGA_EINVAL, "input.nots: unknown field",
                "did you mean \"note\"?");
    check_input(s, "{\"order\": {}, \"weight\": 1, \"colour\": \"x\"}",
                SAGA_EINVAL, "input.colour: unknown field",
                "known fields: order, note, express, weight, tags");
    check_input(s, "{\"order\": {}, \"weight\": 1, \"a b\": 1}", SAGA_EINVAL,
                "input[\"a b\"]: unknown field", NULL);
    check_input(s, "[]", SAGA_EINVAL, "input: expected object, got array",
                NULL);
    saga_spec_free(s);

    s = load_valid("sagas/order_checkout.json");
    check_input(s, "{\"order_id\": \"o1\", \"sku\": \"s\", \"qty\": \"2\", "
                   "\"account\": \"a\", \"amount\": 5}",
                SAGA_EINVAL, "input.qty: expected integer, got string", NULL);
    check_input(s, "{\"order_id\": \"o1\", \"sku\": \"s\", \"qty\": 2.0, "
                   "\"account\": \"a\", \"amount\": 5}",
                SAGA_EINVAL, "input.qty: expected integer, got number", NULL);

    json_t *big = json_object();
    char *filler = malloc(SAGA_INPUT_MAX_BYTES + 1);
    memset(filler, 'x', SAGA_INPUT_MAX_BYTES);
    filler[SAGA_INPUT_MAX_BYTES] = '\0';
    json_object_set_new(big, "sku", json_string(filler));
    saga_error err;
    assert_int_equal(saga_spec_check_input(s, big, &err), SAGA_ELIMIT);
    assert_non_null(strstr(err.msg, "larger than the limit of 262144 bytes"));
    free(filler);
    json_decref(big);
    saga_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_checkout),
        cmocka_unit_test(test_order_checkout_parallel),
        cmocka_unit_test(test_valid_files),
        cmocka_unit_test(test_diamond_resolution),
        cmocka_unit_test(test_builtin_defaults),
        cmocka_unit_test(test_irreversible_valid),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_one_error_summary),
        cmocka_unit_test(test_unknown_keys_hint),
        cmocka_unit_test(test_types_and_ranges),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_after_semantics),
        cmocka_unit_test(test_self_and_cycle),
        cmocka_unit_test(test_irreversible_rules),
        cmocka_unit_test(test_positions_count_characters),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_bom_and_escapes_accepted),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_null_diag),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_canonical_is_stable),
        cmocka_unit_test(test_canonical_differs),
        cmocka_unit_test(test_check_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
