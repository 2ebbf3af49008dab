/*
 * html.h - the one escaping function of every page sagactl serves.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Everything a saga carries (inputs, results, error texts, step names,
 * actors) is text from outside; the console writes it into HTML text and
 * into quoted attribute values only through saga_html_escape, so there is
 * one place to get right and one unit test (tests/unit/test_html.c) that
 * pins it. Values that go into a URL (a link's query string) are
 * percent-encoded first with saga_url_encode, then HTML-escaped like any
 * other attribute value.
 */
#ifndef SAGA_HTML_H
#define SAGA_HTML_H

#include <stddef.h>

#include "buf.h"

/* Appends s (NULL = nothing) to b with & < > " ' written as entities, so the
 * result is inert both as element text and inside a single- or
 * double-quoted attribute value. Other bytes, UTF-8 included, pass as they
 * are. */
void saga_html_escape(saga_buf *b, const char *s);

/* Appends s percent-encoded: every byte but A-Z a-z 0-9 - . _ ~ becomes
 * %XX, so it is one query-string value or path segment whatever it holds. */
void saga_url_encode(saga_buf *b, const char *s);

#endif
