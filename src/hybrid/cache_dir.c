/* cache_dir.c - where relief keeps its caches, and listing or clearing them. */
#include "relief/hybrid.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

int relief_cache_dir(char *out, size_t cap)
{
    const char *v = getenv("RELIEF_CACHE_DIR");
    int n;
    if (v && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        n = snprintf(out, cap, "%s/relief", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, cap, "%s/.cache/relief", v);
    else
        return -1;
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int relief_cache_mkdir(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -1;
    /* mkdir -p: every prefix, then the whole path. */
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *s = '/';
        }
    int rc = mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
    free(p);
    struct stat st;
    return rc == 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* A prefix-cache file, finished ("NAME.relief-prefix-HASH.bin") or left
 * unfinished by a killed writer ("... .bin.tmp.PID"). */
static int cache_kind(const char *name)
{
    const char *p = strstr(name, ".relief-prefix-");
    if (!p)
        return 0;
    const char *bin = strstr(p, ".bin");
    if (!bin)
        return 0;
    if (bin[4] == '\0')
        return 1;
    return !strncmp(bin + 4, ".tmp.", 5) ? 2 : 0;
}

int relief_cache_walk(const char *dir, bool remove_files, FILE *out, size_t *n_files, unsigned long long *bytes)
{
    *n_files = 0;
    *bytes = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int kind = cache_kind(e->d_name);
        if (!kind)
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = -1;
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            (*n_files)++;
            *bytes += (unsigned long long)st.st_size;
            if (out)
                fprintf(out, "%12llu  %s%s\n", (unsigned long long)st.st_size, path, kind == 2 ? "  (unfinished)" : "");
            if (remove_files && unlink(path) != 0)
                rc = -1;
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int relief_cache_clean_unfinished(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (cache_kind(e->d_name) != 2)
            continue;
        const char *pid_s = strrchr(e->d_name, '.');
        char *end;
        long pid = pid_s ? strtol(pid_s + 1, &end, 10) : 0;
        /* A writer that still runs keeps its file; kill(pid, 0) fails with
         * ESRCH once it is gone (killed during a write). */
        if (pid <= 0 || *end || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path)
            break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        removed += unlink(path) == 0;
        free(path);
    }
    closedir(d);
    return removed;
}
