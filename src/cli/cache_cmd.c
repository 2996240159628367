/* cache_cmd.c - `relief cache ls|clear`: shows or removes the prefix cache. */
#include "cli.h"
#include "relief/hybrid.h"

#include <errno.h>
#include <string.h>

int cli_cache(int argc, char **argv)
{
    const char *verb = NULL, *dir_arg = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (!verb && (!strcmp(argv[i], "ls") || !strcmp(argv[i], "clear")))
            verb = argv[i];
        else {
            fprintf(stderr, "usage: relief cache ls|clear [--cache-dir DIR]\n");
            return EXIT_USAGE;
        }
    }
    if (!verb) {
        fprintf(stderr, "usage: relief cache ls|clear [--cache-dir DIR]\n");
        return EXIT_USAGE;
    }
    char dir[1024];
    if (dir_arg)
        snprintf(dir, sizeof dir, "%s", dir_arg);
    else if (relief_cache_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "relief: no cache directory: set RELIEF_CACHE_DIR, XDG_CACHE_HOME or HOME\n");
        return EXIT_FAIL;
    }
    size_t n;
    unsigned long long bytes;
    bool clear = !strcmp(verb, "clear");
    if (relief_cache_walk(dir, clear, clear ? NULL : stdout, &n, &bytes) != 0) {
        fprintf(stderr, "relief: cache %s: cannot %s: %s\n", dir, clear ? "clear it" : "read it", strerror(errno));
        return EXIT_FAIL;
    }
    printf("%s: %zu file%s, %.1f MB%s\n", dir, n, n == 1 ? "" : "s", bytes / 1e6, clear ? " removed" : "");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "relief: cannot write the output: %s\n", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}
