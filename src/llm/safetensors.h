/*
 * safetensors.h - validated, memory-mapped reader for safetensors files
 * (the format PEFT writes adapter_model.safetensors in).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an
 * object mapping tensor names to {"dtype", "shape", "data_offsets"} plus an
 * optional "__metadata__" object of strings), then the data section.
 * data_offsets [begin, end) are relative to the start of the data section.
 *
 * Everything is checked before use, with overflow-safe arithmetic: the
 * header length against the file size (and a 100 MiB cap), the JSON
 * (parsed by jansson, duplicate keys rejected), every dtype name, every
 * shape (at most ST_MAX_DIMS dimensions, element count without overflow),
 * and every data_offsets pair: begin <= end, end within the data section,
 * end - begin == element count x dtype size, no two tensors overlapping and
 * no holes (the tensors must cover the data section exactly, as the format
 * requires). Errors name the tensor. Data is used in place from the map
 * (never assume alignment: st_tensor_to_f32 copies with memcpy).
 */
#ifndef RELIEF_SAFETENSORS_H
#define RELIEF_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64,
    ST_DTYPE_COUNT
} st_dtype;

typedef struct {
    char *name;               /* NUL-terminated, owned by the file */
    st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t n_elements;
    uint64_t begin, end;      /* relative to the data section */
    const uint8_t *data;      /* in the map; end - begin bytes; any alignment */
} st_tensor;

typedef struct {
    const uint8_t *map;
    size_t size;
    bool mapped;              /* munmap on close */
    uint64_t header_len;
    size_t n_tensors;
    st_tensor *tensors;       /* in header order */
    size_t n_meta;
    char **meta_keys, **meta_values; /* the "__metadata__" strings */
} st_file;

/* Opens and validates a file (mmap, read-only). Returns NULL and writes a
 * message naming the file and the problem to err (cap bytes). Close with
 * st_close. */
st_file *st_open(const char *path, char *err, size_t cap);

/* Validates an in-memory image that must outlive the result (which does
 * not free it). Same errors as st_open, without the file name. */
st_file *st_open_memory(const void *data, size_t size, char *err, size_t cap);

/* Frees everything (and unmaps a file opened by st_open); NULL is fine. */
void st_close(st_file *f);

/* "F32", "I64", ...; "?" for an out-of-range value. */
const char *st_dtype_name(st_dtype d);
/* Bytes of one element (F8 types: 1). */
uint32_t st_dtype_size(st_dtype d);

/* The tensor of that exact name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);

/* A "__metadata__" value, or NULL. */
const char *st_metadata(const st_file *f, const char *key);

/* Writes the tensor's n_elements values to out as f32. Returns 0, or -1
 * when the dtype is not F32, F16 or BF16 (nothing written). */
int st_tensor_to_f32(const st_tensor *t, float *out);

#endif
