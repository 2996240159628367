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
 * mapped. Returns 0 or -1. Unmap with munmap(*map, *size). */
int map_file(const char *path, size_t min_size, const char *what, const void **map, size_t *size, char *err,
             size_t cap);

#endif
