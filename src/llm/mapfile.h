/*
 * mapfile.h - maps a whole regular file read-only, for the readers of
 * model and adapter files (GGUF, safetensors), which validate the bytes.
 */
#ifndef RELIEF_MAPFILE_H
#define RELIEF_MAPFILE_H

#include <stddef.h>

/* Maps path read-only into *map / *size. Fails, with a message naming the
 * file in err, when it cannot be opened, is not a regular file, is smaller
 * than min_size bytes (what names the format for the message) or cannot be
 * mapped. Returns 0 or -1. Unmap with munmap(*map, *size).
 * With RELIEF_HUGEPAGES=1 (anything but "" or "0") a file of 64 MiB or more
 * is read into anonymous read-only memory backed by transparent huge pages
 * instead (the file's bytes as they were at open, resident at once); when
 * that fails (no THP support, no memory, a read error) the file is mapped
 * as without the switch. */
int map_file(const char *path, size_t min_size, const char *what, const void **map, size_t *size, char *err,
             size_t cap);

#endif
