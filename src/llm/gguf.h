/*
 * gguf.h - validated, memory-mapped reader for GGUF files (versions 2, 3).
 *
 * Every count, length, offset and extent is checked against the file size
 * with overflow-safe arithmetic before use; a malformed file yields an
 * error message naming what is wrong and never a crash or an allocation
 * larger than the file. Tensor data is used in place from the mapping.
 * Specification: ../shared/docs/gguf.md.
 */
#ifndef RELIEF_GGUF_H
#define RELIEF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GGUF_T_U8 = 0, GGUF_T_I8, GGUF_T_U16, GGUF_T_I16, GGUF_T_U32, GGUF_T_I32, GGUF_T_F32,
    GGUF_T_BOOL, GGUF_T_STRING, GGUF_T_ARRAY, GGUF_T_U64, GGUF_T_I64, GGUF_T_F64,
    GGUF_T_COUNT
};

/* ggml tensor type ids relief computes with. */
enum {
    GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8, GGML_BF16 = 30, GGML_MXFP4 = 39,
    GGML_MXFP4_OLLAMA = 4 /* Ollama's legacy id 4: MXFP4 blocks in checkpoint nibble order */
};

typedef struct {
    const char *key;      /* NOT NUL-terminated in the map: use key_len */
    uint32_t key_len;
    uint32_t type;        /* GGUF_T_* */
    const uint8_t *value; /* first byte of the value in the map */
    uint32_t arr_type;    /* for arrays */
    uint64_t arr_n;       /* for arrays */
} gguf_kv;

typedef struct {
    char name[64];        /* NUL-terminated */
    uint32_t n_dims;
    uint64_t ne[4];       /* missing trailing dims are 1 */
    uint32_t type;        /* ggml type id */
    uint64_t offset;      /* relative to the data section */
    uint64_t nbytes;
    const uint8_t *data;  /* in the map */
} gguf_tensor;

typedef struct {
    const uint8_t *map;
    size_t size;
    bool mapped;          /* munmap on close (else the caller owns map) */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    /* Hash indexes of the keys and tensor names (slot = record index + 1,
     * 0 = empty; mask + 1 slots): duplicates are found while parsing and
     * lookups take constant time, so a file with millions of records costs
     * time linear in its size, not quadratic. */
    uint64_t *kv_slots, *tensor_slots;
    uint64_t kv_mask, tensor_mask;
} gguf_file;

/* Opens and validates a file (mmap, read-only). Returns NULL and writes a
 * message to err (cap bytes) on any error. Close with gguf_close. */
gguf_file *gguf_open(const char *path, char *err, size_t cap);

/* Validates an in-memory image; the memory must outlive the result, which
 * does not free it. Same errors as gguf_open. */
gguf_file *gguf_open_memory(const void *data, size_t size, char *err, size_t cap);

void gguf_close(gguf_file *f);

/* Name ("Q8_0"), block size and block bytes of a ggml type; name is NULL
 * and sizes 0 for an unknown id. Removed ids have names but size 0. */
const char *ggml_type_name(uint32_t type);
uint32_t ggml_type_block(uint32_t type);
uint32_t ggml_type_bytes(uint32_t type);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name);

/* Typed getters. They return 0, or -1 with a message naming the key when
 * the key is absent (only if required), has a type that cannot represent
 * the value, or is out of range. An absent optional key leaves *out alone
 * and returns 1. */
int gguf_get_uint(const gguf_file *f, const char *key, bool required, uint64_t max, uint64_t *out,
                  char *err, size_t cap);
int gguf_get_float(const gguf_file *f, const char *key, bool required, double *out, char *err, size_t cap);
/* String value: pointer into the map and its length (not NUL-terminated). */
int gguf_get_str(const gguf_file *f, const char *key, bool required, const char **s, size_t *len,
                 char *err, size_t cap);

/* Iterates an array of strings: *pos starts at 0; returns 1 with the next
 * string, 0 at the end. The array was validated when the file was opened. */
int gguf_arr_next_str(const gguf_kv *kv, uint64_t *pos, const uint8_t **cursor, const char **s, uint64_t *len);
/* Element i of an array of fixed-size integers as int64 (any int type); 0 if not one. */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);

/* The value read as the type's integer or float (scalars only). */
bool gguf_kv_is_int(const gguf_kv *kv);

#endif
