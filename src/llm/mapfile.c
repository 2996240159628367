/*
 * mapfile.c - read-only mapping of a whole file; see mapfile.h.
 */
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, cap, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}
