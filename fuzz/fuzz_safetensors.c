/*
 * fuzz_safetensors.c - libFuzzer target: the safetensors reader and the
 * PEFT LoRA adapter loader on arbitrary bytes.
 *
 * Input: a 16-bit little-endian length L, then L bytes of
 * adapter_config.json (L = 0: the tiny oracle adapter's own config, a
 * valid one), then the bytes of adapter_model.safetensors.
 *  1. The safetensors bytes are opened with st_open_memory; when they open,
 *     every tensor is found again by name and converted to f32 (when its
 *     dtype allows), and every metadata key is looked up.
 *  2. Both files are written to a private temporary directory and
 *     relief_lora_load runs on it against the tiny oracle model (loaded
 *     once, fuzz_common.h); an adapter that loads is attached to a
 *     2-position context and one token is evaluated with it.
 */
#include "fuzz_common.h"
#include "llm/safetensors.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char dir[64], cfg_path[128], st_path[128];
static char *default_cfg;
static size_t default_cfg_len;
static relief_llm_ctx *ctx;

static void cleanup(void)
{
    unlink(cfg_path);
    unlink(st_path);
    rmdir(dir);
}

static int write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    return off == n ? 0 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    relief_model *m = fuzz_model();
    char err[256];
    ctx = relief_llm_ctx_new(m, 2, 1, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "fuzz: context: %s\n", err);
        abort();
    }
    /* The oracle adapter's config, beside the vocabulary: .../tiny/lora-qkvo-peft/. */
    const char *vocab = getenv("RELIEF_FUZZ_VOCAB");
    if (!vocab || !*vocab)
        vocab = FUZZ_DEFAULT_VOCAB;
    char path[4200];
    const char *slash = strrchr(vocab, '/');
    snprintf(path, sizeof path, "%.*slora-qkvo-peft/adapter_config.json", slash ? (int)(slash - vocab + 1) : 0, vocab);
    FILE *f = fopen(path, "rb");
    default_cfg = malloc(1 << 16);
    if (!f || !default_cfg) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        abort();
    }
    default_cfg_len = fread(default_cfg, 1, 1 << 16, f);
    fclose(f);
    snprintf(dir, sizeof dir, "/tmp/relief-fuzz-st-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(cfg_path, sizeof cfg_path, "%s/adapter_config.json", dir);
    snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    atexit(cleanup);
    return 0;
}

static void read_all(const st_file *f)
{
    volatile float sink = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (st_find(f, t->name) == NULL)
            abort(); /* every tensor must be findable by its own name */
        sink += (float)st_dtype_size(t->dtype) + (float)strlen(st_dtype_name(t->dtype));
        if (t->end - t->begin != t->n_elements * st_dtype_size(t->dtype))
            abort(); /* the documented extent check */
        float *out = malloc((size_t)t->n_elements * sizeof(float) + 1);
        if (out && st_tensor_to_f32(t, out) == 0 && t->n_elements)
            sink += out[0] + out[t->n_elements - 1];
        free(out);
    }
    for (size_t i = 0; i < f->n_meta; i++)
        if (st_metadata(f, f->meta_keys[i]) == NULL)
            abort();
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor c = {data, size};
    size_t L = fuzz_u16(&c);
    if (L > c.n)
        L = c.n;
    const char *cfg = L ? (const char *)c.p : default_cfg;
    size_t cfg_len = L ? L : default_cfg_len;
    const uint8_t *st = c.p + L;
    size_t st_len = c.n - L;

    char err[512];
    void *mem = malloc(st_len ? st_len : 1);
    if (!mem)
        return 0;
    memcpy(mem, st, st_len);
    st_file *f = st_open_memory(mem, st_len, err, sizeof err);
    if (f) {
        read_all(f);
        st_close(f);
    } else {
        fuzz_note("st_open_memory", err);
    }
    free(mem);

    if (write_file(cfg_path, cfg, cfg_len) < 0 || write_file(st_path, st, st_len) < 0)
        return 0;
    relief_lora *l = relief_lora_load(fuzz_model(), dir, 1.0f, err, sizeof err);
    if (!l)
        fuzz_note("relief_lora_load", err);
    if (l) {
        char desc[256];
        relief_lora_describe(l, desc, sizeof desc);
        if (relief_llm_ctx_add_lora(ctx, l, err, sizeof err) == 0) {
            int32_t tok = 1;
            float *logits = malloc(relief_model_vocab(fuzz_model()) * sizeof(float));
            if (logits)
                relief_llm_eval(ctx, &tok, 1, logits, false, NULL);
            free(logits);
        }
        relief_llm_ctx_clear_loras(ctx);
        relief_lora_free(l);
    }
    return 0;
}
