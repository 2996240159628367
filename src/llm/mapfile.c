/*
 * mapfile.c - read-only mapping of a whole file; see mapfile.h. With
 * RELIEF_HUGEPAGES=1 a large file is instead read into anonymous memory
 * backed by transparent huge pages (docs/performance.md has the figures
 * that decided the default).
 */
#include "mapfile.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HUGE_SIZE ((size_t)2 << 20)       /* a transparent huge page on x86-64 */
#define HUGE_MIN ((size_t)64 << 20)       /* smaller files: not worth a copy */
#define READ_CHUNK ((size_t)64 << 20)

/* True when environment variable name is set to anything but "" or "0". */
static bool env_on(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0");
}

/* The file's size bytes read into fresh anonymous memory, 2 MiB aligned
 * and advised MADV_HUGEPAGE, then made read-only; NULL when any step
 * fails (the caller maps the file instead). The region spans exactly the
 * pages of [result, result + size), so munmap(result, size) frees it all
 * as it does a file mapping. Why: weights in 4 KiB page-cache pages cost
 * TLB misses on every pass over them; huge pages read faster. */
static void *copy_to_huge_pages(int fd, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (size + page - 1) / page * page;
    if (len < size || len > SIZE_MAX - HUGE_SIZE)
        return NULL;
    size_t total = len + HUGE_SIZE;
    uint8_t *raw = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + total > p + len)
        munmap(p + len, (size_t)(raw + total - (p + len)));
    /* Without transparent huge pages (disabled, or no kernel support) the
     * copy would only double the memory the file's pages take: give up. */
    if (madvise(p, len, MADV_HUGEPAGE) < 0) {
        munmap(p, len);
        return NULL;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (size_t off = 0; off < size;) {
        size_t want = size - off < READ_CHUNK ? size - off : READ_CHUNK;
        ssize_t got = pread(fd, p + off, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) { /* an error, or the file shrank while read */
            munmap(p, len);
            return NULL;
        }
        off += (size_t)got;
    }
    if (mprotect(p, len, PROT_READ) < 0) {
        munmap(p, len);
        return NULL;
    }
    return p;
}

int map_file(const char *path, size_t min_size, const char *what, const void **map, size_t *size, char *err,
             size_t cap)
{
    /* O_NONBLOCK: opening a FIFO or a device must not wait for a writer;
     * anything but a regular file is refused right after. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, cap, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size < min_size) {
        snprintf(err, cap, "%s: file is %lld bytes, too short for a %s header", path, (long long)st.st_size, what);
        close(fd);
        return -1;
    }
    void *m = NULL;
    if ((unsigned long long)st.st_size >= HUGE_MIN && (unsigned long long)st.st_size <= SIZE_MAX &&
        env_on("RELIEF_HUGEPAGES"))
        m = copy_to_huge_pages(fd, (size_t)st.st_size);
    if (!m) {
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        /* Where the kernel keeps the file in 2 MiB page-cache folios (ext4
         * on Linux 6.x once the file is read cold) it maps them as huge
         * pages: the same TLB gain as a copy, without the copy. Some
         * kernels do so only for advised mappings; the advice is free
         * elsewhere, and its failure harmless. */
        if (m != MAP_FAILED && (size_t)st.st_size >= HUGE_MIN)
            (void)madvise(m, (size_t)st.st_size, MADV_HUGEPAGE);
    }
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, cap, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}
