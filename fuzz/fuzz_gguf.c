/*
 * fuzz_gguf.c - libFuzzer target: the GGUF reader, the tokenizer loader and
 * the model loader on arbitrary bytes.
 *
 * Each input is opened with gguf_open_memory (from a 64-byte aligned copy,
 * as a mapping would be); when it opens, every metadata value is read back
 * through the typed getters and array iterators and every tensor's type is
 * looked up, then tok_load runs on it. The same bytes are then written to a
 * memfd and loaded with relief_model_load through /proc/self/fd/N, the path
 * the CLI takes; a model that loads evaluates one token in a 4-position
 * context and generates up to two more. The same path is also loaded as a
 * LoRA adapter (GGUF form) for the tiny oracle model (fuzz_common.h).
 * Errors are expected; crashes, sanitizer reports, leaks and hangs are
 * findings.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void read_metadata(const gguf_file *f)
{
    char key[256], err[256];
    volatile size_t sink = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (kv->key_len >= sizeof key)
            continue;
        memcpy(key, kv->key, kv->key_len);
        key[kv->key_len] = '\0';
        if (strlen(key) != kv->key_len)
            continue; /* a NUL inside the key: not findable by name */
        uint64_t u;
        double d;
        const char *s;
        size_t len;
        gguf_get_uint(f, key, true, UINT64_MAX, &u, err, sizeof err);
        gguf_get_uint(f, key, false, 1000, &u, err, sizeof err);
        gguf_get_float(f, key, true, &d, err, sizeof err);
        if (gguf_get_str(f, key, true, &s, &len, err, sizeof err) == 0 && len)
            sink += (unsigned char)s[len - 1];
        sink += gguf_kv_is_int(kv);
        if (kv->type == GGUF_T_ARRAY) {
            uint64_t pos = 0, slen;
            const uint8_t *cur = NULL;
            while (gguf_arr_next_str(kv, &pos, &cur, &s, &slen))
                if (slen)
                    sink += (unsigned char)s[slen - 1];
            for (uint64_t k = 0; k < kv->arr_n && k < 4096; k++)
                sink += (size_t)gguf_arr_int(kv, k);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const char *name = ggml_type_name(t->type);
        sink += name ? strlen(name) : 0;
        sink += ggml_type_block(t->type) + ggml_type_bytes(t->type);
        if (gguf_tensor_find(f, t->name) == NULL)
            abort(); /* every tensor must be findable by its own name */
        if (t->nbytes)
            sink += t->data[0] + t->data[t->nbytes - 1];
    }
    (void)sink;
}

static void load_model(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_gguf", MFD_CLOEXEC);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    relief_model_params params = {.quiet = true};
    if (off != size) {
        close(fd);
        return;
    }
    relief_lora *l = relief_lora_load(fuzz_model(), path, 0.5f, err, sizeof err);
    if (!l)
        fuzz_note("relief_lora_load", err);
    relief_lora_free(l);
    relief_model *m = relief_model_load(path, &params, err, sizeof err);
    close(fd);
    if (!m) {
        fuzz_note("relief_model_load", err);
        return;
    }
    const relief_model_info *info = relief_model_get_info(m);
    relief_llm_ctx *c = relief_llm_ctx_new(m, 4, 1, err, sizeof err);
    if (c) {
        int32_t prompt[2] = {0, (int32_t)(info->n_vocab - 1)};
        relief_sampler_params sp = relief_llm_sampler_defaults();
        sp.max_new_tokens = 2;
        sp.seed = 1;
        relief_gen_result res;
        relief_llm_limits lim = {0};
        relief_llm_generate(c, prompt, 1 + (info->n_vocab > 1), &sp, NULL, 0, NULL, NULL, &lim, &res);
        relief_llm_ctx_free(c);
    }
    relief_model_free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_model();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    /* 64-byte aligned like a mapping, so float tensors are aligned as in a file. */
    void *mem = NULL;
    if (posix_memalign(&mem, 64, size ? size : 1) != 0)
        return 0;
    uint8_t *copy = mem;
    memcpy(copy, data, size);
    gguf_file *f = gguf_open_memory(copy, size, err, sizeof err);
    if (!f)
        fuzz_note("gguf_open_memory", err);
    if (f) {
        read_metadata(f);
        relief_tokenizer *t = tok_load(f, err, sizeof err);
        if (!t)
            fuzz_note("tok_load", err);
        if (t) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tok_encode(t, "fuzz <|start|> ok", 17, true, &ids, &n) == 0)
                free(ids);
            tok_free(t);
        }
        gguf_close(f);
    }
    free(copy);
    load_model(data, size);
    return 0;
}
