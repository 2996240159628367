/*
 * fuzz_harmony.c - libFuzzer target: the harmony completion parser fed
 * arbitrary token-id streams, and render -> parse round trips of arbitrary
 * message content, with the tiny test vocabulary (fuzz_common.h).
 *
 * Input: byte 0 chooses the mode.
 *  - even: a parser for the prompt ending (byte 0 >> 1) % 3 (assistant,
 *    final, none) is fed the rest as little-endian 16-bit ids (0xFFFF is
 *    -1; ids past the vocabulary occur), then finished. Every event's text
 *    and every message's content must be valid UTF-8, the return codes
 *    must follow the contract (after -1 or 1 only -1), and the messages
 *    must stay readable.
 *  - odd: the rest is the content of an assistant message on the final
 *    channel; it is rendered (open NONE, ended with <|end|>) and the ids
 *    fed back to a parser, which must give back one message whose content
 *    is the input (when it is valid UTF-8), stop END, no error.
 */
#include "fuzz_common.h"
#include "utf8_check.h"
#include "llm/harmony.h"

#include <string.h>

static harmony *hm;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    hm = harmony_new(fuzz_vocab(), err, sizeof err);
    if (!hm) {
        fprintf(stderr, "fuzz: harmony_new: %s\n", err);
        abort();
    }
    return 0;
}

static void check_text(const char *s, size_t n, const char *what)
{
    if (n && !s) {
        fprintf(stderr, "%s: %zu bytes but no pointer\n", what, n);
        abort();
    }
    if (n && !valid_utf8((const unsigned char *)s, n)) {
        fprintf(stderr, "%s is not valid UTF-8\n", what);
        abort();
    }
}

static void check_messages(const harmony_parser *p)
{
    size_t n;
    const harmony_parsed *m = harmony_parser_messages(p, &n);
    for (size_t i = 0; i < n; i++) {
        check_text(m[i].content, m[i].content_len, "message content");
        if (!m[i].author || !m[i].channel)
            abort();
        volatile size_t sink = strlen(m[i].author) + strlen(m[i].channel);
        if (m[i].recipient)
            sink += strlen(m[i].recipient);
        if (m[i].content_type)
            sink += strlen(m[i].content_type);
        (void)sink;
    }
}

static void feed_stream(harmony_open open, const uint8_t *data, size_t size)
{
    harmony_parser *p = harmony_parser_new(hm, open);
    if (!p)
        return;
    fuzz_cursor c = {data, size};
    int last = 0;
    while (c.n >= 2) {
        uint16_t v = fuzz_u16(&c);
        harmony_event ev;
        int rc = harmony_parser_feed(p, v == 0xFFFF ? -1 : (int32_t)v, &ev);
        if (rc < -1 || rc > 1 || (last != 0 && rc != -1)) {
            fprintf(stderr, "feed returned %d after %d\n", rc, last);
            abort();
        }
        if (rc >= 0)
            check_text(ev.text, ev.text_len, "event text");
        if ((rc < 0) != (harmony_parser_error(p) != NULL))
            abort(); /* -1 exactly when an error is recorded */
        last = rc;
        check_messages(p);
    }
    harmony_event ev;
    if (harmony_parser_finish(p, &ev) == 0)
        check_text(ev.text, ev.text_len, "finish text");
    check_messages(p);
    harmony_parser_free(p);
}

static void round_trip(const uint8_t *data, size_t size)
{
    harmony_message msg = {.author = "assistant", .channel = "final", .content = (const char *)data,
                           .content_len = size, .term = HARMONY_TERM_END};
    if (size == 0)
        msg.content = NULL;
    harmony_convo conv = {.messages = &msg, .n_messages = 1, .open = HARMONY_OPEN_NONE};
    int32_t *ids = NULL;
    size_t n = 0;
    if (harmony_render(hm, &conv, &ids, &n) < 0)
        return;
    harmony_parser *p = harmony_parser_new(hm, HARMONY_OPEN_NONE);
    if (!p) {
        free(ids);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (harmony_parser_feed(p, ids[i], NULL) != 0) {
            fprintf(stderr, "rendered message does not parse: %s\n", harmony_parser_error(p));
            abort();
        }
    size_t nm;
    const harmony_parsed *m = harmony_parser_messages(p, &nm);
    if (nm != 1 || m[0].stop != HARMONY_STOP_END || strcmp(m[0].channel, "final") ||
        strcmp(m[0].author, "assistant")) {
        fprintf(stderr, "round trip gave %zu messages\n", nm);
        abort();
    }
    check_text(m[0].content, m[0].content_len, "round-trip content");
    if (valid_utf8(data, size) && (m[0].content_len != size || (size && memcmp(m[0].content, data, size)))) {
        fprintf(stderr, "round trip changed the content (%zu -> %zu bytes)\n", size, m[0].content_len);
        abort();
    }
    harmony_parser_free(p);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    if (mode & 1)
        round_trip(data + 1, size - 1);
    else
        feed_stream((harmony_open)((mode >> 1) % 3), data + 1, size - 1);
    return 0;
}
