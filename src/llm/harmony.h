/*
 * harmony.h - the harmony chat format of gpt-oss: renders a conversation to
 * token ids (ending with the prompt for the next assistant message) and
 * parses the model's completion, fed one token id at a time, into messages
 * (channel, recipient, content type, content, how each ended).
 *
 * Rules: ../shared/docs/harmony.md. Every message is
 *     <|start|>AUTHOR[ to=RECIPIENT][<|channel|>CHANNEL][ <|constrain|>TYPE]<|message|>CONTENT<|end|>
 * with <|call|> ending tool calls and <|return|> ending a sampled final answer.
 * Special tokens are looked up by name in the tokenizer, never by id, and
 * all text (content above all) is tokenized with special tokens NOT
 * recognised, so text that looks like "<|end|>" stays text.
 *
 * Typical use:
 *     harmony *h = harmony_new(tok, err, sizeof err);
 *     harmony_system sys = {.date = "2025-08-06", .effort = HARMONY_EFFORT_LOW};
 *     harmony_message user = {.author = "user", .content = report};
 *     harmony_convo c = {.system = &sys, .instructions = "...", .messages = &user, .n_messages = 1,
 *                        .open = HARMONY_OPEN_ASSISTANT};
 *     harmony_render(h, &c, &ids, &n);            ... prefill ids ...
 *     harmony_parser *p = harmony_parser_new(h, HARMONY_OPEN_ASSISTANT);
 *     for each sampled id: rc = harmony_parser_feed(p, id, &ev);
 *         ev.header: a new message's header is complete (see harmony_parser_messages)
 *         ev.text/ev.text_len: content to show if the message's channel is "final"
 *         rc == 1: stop sampling (<|return|> or <|call|>); rc < 0: malformed output
 *     harmony_parser_free(p); harmony_free(h);
 */
#ifndef RELIEF_HARMONY_H
#define RELIEF_HARMONY_H

#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The special ids of one vocabulary (found by name) and its tokenizer. */
typedef struct harmony harmony;

/* Looks up <|start|>, <|end|>, <|message|>, <|channel|>, <|constrain|>,
 * <|return|> and <|call|> by name. The tokenizer must outlive the result.
 * Returns NULL and writes a message naming the missing token (or "out of
 * memory") to err on error. Free with harmony_free. */
harmony *harmony_new(const relief_tokenizer *t, char *err, size_t cap);
void harmony_free(harmony *h);

/* Id of a harmony special token, or -1 for an unknown name. */
int32_t harmony_special(const harmony *h, const char *name);

/* ---- rendering ---- */

/* Reasoning effort; medium (the default) is 0. */
typedef enum { HARMONY_EFFORT_MEDIUM, HARMONY_EFFORT_LOW, HARMONY_EFFORT_HIGH } harmony_effort;

/* The system message, composed as the official renderer does:
 *     IDENTITY\nKnowledge cutoff: CUTOFF[\nCurrent date: DATE]\n\nReasoning: EFFORT\n\n
 *     # Valid channels: analysis, commentary, final. Channel must be included for every message.
 *     [\nCalls to these tools must go to the commentary channel: 'functions'.]
 * A zero-initialised struct is valid (default identity and cutoff, no date, medium effort). */
typedef struct {
    const char *identity;         /* NULL: "You are ChatGPT, a large language model trained by OpenAI." */
    const char *knowledge_cutoff; /* NULL: "2024-06" */
    const char *date;             /* "YYYY-MM-DD"; NULL or "" leaves the date line out */
    harmony_effort effort;        /* out-of-range values render as medium */
    bool function_tools;          /* the developer message defines functions: adds the "Calls to..." line */
} harmony_system;

/* How a rendered message ends. AUTO: <|call|> for an assistant message with
 * a recipient (a tool call), <|end|> otherwise. Use RETURN only to render a
 * sampled answer verbatim; history should store it with <|end|>. */
typedef enum { HARMONY_TERM_AUTO, HARMONY_TERM_END, HARMONY_TERM_CALL, HARMONY_TERM_RETURN } harmony_term;

/* One message. Header fields are NUL-terminated text, rendered as given. */
typedef struct {
    const char *author;           /* "user", "assistant", "system", "developer", or a tool ("functions.find_shelter") */
    const char *recipient;        /* NULL, or "functions.find_shelter" (a tool call), "assistant" (a tool's output) */
    bool recipient_after_channel; /* write " to=X" after the channel name instead of after the author */
    const char *channel;          /* NULL, or "analysis", "commentary", "final" */
    const char *content_type;     /* NULL, or e.g. "json", rendered " <|constrain|>json" */
    const char *content;          /* text, any bytes; NULL = empty */
    size_t content_len;           /* bytes of content; 0 = strlen(content) */
    harmony_term term;
} harmony_message;

/* What the prompt ends with. */
typedef enum {
    HARMONY_OPEN_ASSISTANT, /* "<|start|>assistant": the model chooses channel (and recipient) */
    HARMONY_OPEN_FINAL,     /* "<|start|>assistant<|channel|>final<|message|>": answer directly, no analysis */
    HARMONY_OPEN_NONE       /* nothing: the conversation only */
} harmony_open;

/* A conversation: system message, developer message, then the messages in
 * order (rendered as given: the caller drops analysis of answered turns
 * and stores answers with <|end|>, as harmony.md describes). */
typedef struct {
    const harmony_system *system; /* NULL: no system message */
    const char *instructions;     /* developer instructions; NULL: none */
    const char *tools;            /* NULL, or a tools section for the developer message, written after a
                                     blank line as given ("# Tools\n\n## functions\n\nnamespace functions {...}") */
    const harmony_message *messages;
    size_t n_messages;
    harmony_open open;
} harmony_convo;

/* Renders c to token ids. A developer message is rendered when instructions
 * or tools are set. On success returns 0 and sets *ids (malloc'd, the caller
 * frees) and *n; returns -1 (with *ids NULL) on OOM or a message without an
 * author. */
int harmony_render(const harmony *h, const harmony_convo *c, int32_t **ids, size_t *n);

/* The text of the system message for s, and of the developer message for
 * instructions/tools (NULL when both are NULL): malloc'd, NUL-terminated,
 * the caller frees; NULL on OOM. */
char *harmony_system_text(const harmony_system *s);
char *harmony_developer_text(const char *instructions, const char *tools);

/* ---- parsing a completion ---- */

typedef enum {
    HARMONY_STOP_NONE,   /* still open (or the stream ended without a terminator) */
    HARMONY_STOP_END,    /* <|end|>: the model goes on with another message */
    HARMONY_STOP_RETURN, /* <|return|>: final answer complete; stop sampling */
    HARMONY_STOP_CALL    /* <|call|>: tool call complete; stop sampling */
} harmony_stop;

/* A parsed message. Strings are NUL-terminated and owned by the parser. */
typedef struct {
    char *author;       /* "assistant", or the role/tool name that followed <|start|> */
    char *channel;      /* "analysis", "commentary", "final"; "" when the header had none */
    char *recipient;    /* NULL, or e.g. "functions.find_shelter" */
    char *content_type; /* NULL, or as written (e.g. "<|constrain|>json") */
    char *content;      /* decoded UTF-8 (invalid bytes as U+FFFD), so far; may hold NUL bytes if the
                           model produced them: use content_len */
    size_t content_len;
    harmony_stop stop;
} harmony_parsed;

typedef struct harmony_parser harmony_parser;

/* A parser for the tokens the model produces after a prompt rendered with
 * `open` (HARMONY_OPEN_NONE: the stream starts with <|start|>). For
 * HARMONY_OPEN_FINAL the final message exists from the start. Returns NULL
 * on OOM. h must outlive the parser. Free with harmony_parser_free. */
harmony_parser *harmony_parser_new(const harmony *h, harmony_open open);
void harmony_parser_free(harmony_parser *p);

/* What one token did, in this order: completed a header, produced content
 * text, ended the message. */
typedef struct {
    bool header;          /* a message's header is complete: it is now the last of harmony_parser_messages */
    const char *text;     /* content bytes this token produced: whole UTF-8 characters only (a character
                             split across tokens comes with the token that completes it); valid until the
                             next call; NULL when none */
    size_t text_len;
    harmony_stop stop;    /* the current message ended with this token */
} harmony_event;

/* Feeds one token id. Returns 0 to go on, 1 when the completion is over
 * (<|return|> or <|call|>: stop sampling), -1 on an error: a token that
 * breaks the format (a header over 1024 bytes, an unexpected special token,
 * a malformed header, any token after the end) or OOM. After an error
 * every call returns -1; the messages parsed so far stay readable and
 * harmony_parser_error says what happened. ev may be NULL. */
int harmony_parser_feed(harmony_parser *p, int32_t id, harmony_event *ev);

/* Ends the stream (e.g. at the token limit): a character left incomplete
 * is emitted as U+FFFD into ev and the open message's content; the message
 * keeps stop NONE. Returns 0, or -1 after an error. ev may be NULL. */
int harmony_parser_finish(harmony_parser *p, harmony_event *ev);

/* The messages so far (the last one may still be open); valid until the
 * next feed. Sets *n. */
const harmony_parsed *harmony_parser_messages(const harmony_parser *p, size_t *n);

/* Why the parser failed, or NULL when it has not. */
const char *harmony_parser_error(const harmony_parser *p);

#endif
