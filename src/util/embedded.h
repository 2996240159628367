/* embedded.h - files embedded in the binary at build time (tools/embed.c writes their arrays). */
#ifndef RELIEF_UTIL_EMBEDDED_H
#define RELIEF_UTIL_EMBEDDED_H

#include <stddef.h>

/* One embedded file: its path relative to the embedded folder, its bytes
 * (NUL-terminated for convenience; len excludes the NUL). */
typedef struct {
    const char *path;
    const unsigned char *data;
    size_t len;
} relief_embedded_file;

/* The knowledge base (kb/) and the web page (src/serve/web/). */
extern const relief_embedded_file relief_kb_files[];
extern const size_t relief_kb_n_files;
extern const relief_embedded_file relief_web_files[];
extern const size_t relief_web_n_files;

#endif
