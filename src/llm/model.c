/*
 * model.c - loads a gpt-oss GGUF file into weight views: reads and checks
 * every hyper-parameter (never hard-coded, so 20b, 120b and the tiny test
 * models all load), finds every tensor with its exact shape and an allowed
 * type, accepts Ollama's `gptoss` variant (alternate names, fused tensors,
 * legacy MXFP4 id 4 for experts), and precomputes the YaRN frequencies.
 * Reference: ../shared/docs/gpt-oss.md sections 2-5 and 9.4.
 */
#include "llm_int.h"
#include "quant.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_LAYERS 512
#define MAX_EMBD 65536
#define MAX_HEADS 1024
#define MAX_HEAD_DIM 512
#define MAX_EXPERTS 1024

typedef struct {
    relief_model *m;
    const gguf_file *f;
    char prefix[40];
    bool ollama;
    char *err;
    size_t cap;
    bool *used;                 /* tensors consumed, to find unexpected ones */
} loader;

static int lfail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lfail(loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->cap, fmt, ap);
    va_end(ap);
    return -1;
}

static const gguf_tensor *find_tensor(loader *L, const char *name)
{
    const gguf_tensor *t = gguf_tensor_find(L->f, name);
    if (t)
        L->used[t - L->f->tensors] = true;
    return t;
}

static int own(relief_model *m, void *p)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **q = realloc(m->owned, cap * sizeof *q);
        if (!q)
            return -1;
        m->owned = q;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return 0;
}

static int check_shape(loader *L, const gguf_tensor *t, uint32_t nd, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t want[3] = {a, b, c};
    bool ok = true;
    for (uint32_t i = 0; i < 4; i++)
        ok &= t->ne[i] == (i < nd ? want[i] : 1);
    if (!ok)
        return lfail(L, "tensor '%s' has shape [%llu, %llu, %llu], expected [%llu, %llu, %llu]", t->name,
                     (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                     (unsigned long long)a, (unsigned long long)(nd > 1 ? b : 1), (unsigned long long)(nd > 2 ? c : 1));
    return 0;
}

static int check_type(loader *L, const gguf_tensor *t, bool expert)
{
    if (t->type == GGML_MXFP4_OLLAMA) {
        if (L->ollama && expert)
            return 0;
        return lfail(L, "tensor '%s' has type 4 (the removed Q4_2; Ollama uses it for MXFP4 experts only in "
                        "'gptoss' files)", t->name);
    }
    if (!q_type_supported(t->type)) {
        const char *n = ggml_type_name(t->type);
        return lfail(L, "tensor '%s' has type %s (%u), not supported (F32, F16, BF16, Q8_0, MXFP4)", t->name,
                     n ? n : "unknown", t->type);
    }
    return 0;
}

/* A vector of n floats: in place when F32, else converted (F16/BF16). */
static const float *get_vec(loader *L, const char *name, uint64_t n)
{
    const gguf_tensor *t = find_tensor(L, name);
    if (!t) {
        lfail(L, "required tensor '%s' is missing", name);
        return NULL;
    }
    uint64_t total = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (total != n) {
        lfail(L, "tensor '%s' has %llu elements, expected %llu", name, (unsigned long long)total,
              (unsigned long long)n);
        return NULL;
    }
    if (t->type == GGML_F32)
        return (const float *)t->data; /* offsets are 32-byte aligned */
    if (t->type != GGML_F16 && t->type != GGML_BF16) {
        lfail(L, "tensor '%s' has type %s, expected F32, F16 or BF16", name,
              ggml_type_name(t->type) ? ggml_type_name(t->type) : "unknown");
        return NULL;
    }
    float *v = malloc(n * sizeof *v);
    if (!v || own(L->m, v) < 0) {
        free(v);
        lfail(L, "out of memory");
        return NULL;
    }
    q_dequant_row(t->type, t->data, v, n);
    return v;
}

static int make_qmat(loader *L, const gguf_tensor *t, uint32_t cols, uint32_t rows, uint32_t n_expert, qmat *out)
{
    if (check_type(L, t, n_expert > 0) < 0)
        return -1;
    if (check_shape(L, t, n_expert ? 3 : 2, cols, rows, n_expert) < 0)
        return -1;
    out->type = t->type;
    out->data = t->data;
    out->cols = cols;
    out->rows = rows;
    out->n_expert = n_expert ? n_expert : 1;
    out->row_bytes = q_row_bytes(t->type, cols);
    out->row_stride = out->row_bytes;
    out->expert_stride = out->row_bytes * rows;
    out->dot = kern_dot(t->type);
    out->qdot = kern_qdot(t->type);
    out->qgemm = kern_qgemm(t->type);
    return 0;
}

static int get_mat(loader *L, const char *name, uint32_t cols, uint32_t rows, uint32_t n_expert, qmat *out)
{
    const gguf_tensor *t = find_tensor(L, name);
    if (!t)
        return lfail(L, "required tensor '%s' is missing", name);
    return make_qmat(L, t, cols, rows, n_expert, out);
}

/* ---- hyper-parameters ---- */

static int key_uint(loader *L, const char *suffix, bool required, uint64_t max, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->prefix, suffix);
    uint64_t v;
    int rc = gguf_get_uint(L->f, key, required, max, &v, L->err, L->cap);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int key_float(loader *L, const char *suffix, bool required, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->prefix, suffix);
    double v;
    int rc = gguf_get_float(L->f, key, required, &v, L->err, L->cap);
    if (rc == 0)
        *out = (float)v;
    return rc;
}

static int read_hparams(loader *L)
{
    relief_model_info *h = &L->m->info;
    if (key_uint(L, "block_count", true, MAX_LAYERS, &h->n_layer) < 0 ||
        key_uint(L, "embedding_length", true, MAX_EMBD, &h->n_embd) < 0 ||
        key_uint(L, "context_length", true, 1u << 24, &h->ctx_train) < 0 ||
        key_uint(L, "attention.head_count", true, MAX_HEADS, &h->n_head) < 0 ||
        key_uint(L, "attention.key_length", true, MAX_HEAD_DIM, &h->head_dim) < 0 ||
        key_uint(L, "expert_count", true, MAX_EXPERTS, &h->n_expert) < 0 ||
        key_uint(L, "expert_used_count", true, MAX_EXPERTS, &h->n_expert_used) < 0 ||
        key_uint(L, "expert_feed_forward_length", true, MAX_EMBD, &h->n_ff_expert) < 0 ||
        key_uint(L, "attention.sliding_window", true, 1u << 24, &h->sliding_window) < 0 ||
        key_float(L, "attention.layer_norm_rms_epsilon", true, &h->rms_eps) < 0 ||
        key_float(L, "rope.freq_base", true, &h->rope_base) < 0 ||
        key_uint(L, "rope.scaling.original_context_length", true, 1u << 24, &h->yarn_orig_ctx) < 0)
        return -1;
    h->n_head_kv = h->n_head;
    if (key_uint(L, "attention.head_count_kv", false, MAX_HEADS, &h->n_head_kv) < 0)
        return -1;
    uint32_t vlen = h->head_dim, rdim = h->head_dim;
    if (key_uint(L, "attention.value_length", false, MAX_HEAD_DIM, &vlen) < 0 ||
        key_uint(L, "rope.dimension_count", false, MAX_HEAD_DIM, &rdim) < 0)
        return -1;
    h->swa_pattern = 2;
    if (key_uint(L, "attention.sliding_window_pattern", false, MAX_LAYERS, &h->swa_pattern) < 0)
        return -1;
    h->rope_scale = 1;
    h->yarn_beta_fast = 32;
    h->yarn_beta_slow = 1;
    h->attn_factor = 1;
    if (key_float(L, "rope.scaling.factor", false, &h->rope_scale) < 0 ||
        key_float(L, "rope.scaling.yarn_beta_fast", false, &h->yarn_beta_fast) < 0 ||
        key_float(L, "rope.scaling.yarn_beta_slow", false, &h->yarn_beta_slow) < 0 ||
        key_float(L, "rope.scaling.attn_factor", false, &h->attn_factor) < 0)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", L->prefix);
    const char *st;
    size_t sl;
    int rc = gguf_get_str(L->f, key, false, &st, &sl, L->err, L->cap);
    if (rc < 0)
        return -1;
    if (rc == 0 && !(sl == 4 && !memcmp(st, "yarn", 4)))
        return lfail(L, "key '%s' is '%.*s'; gpt-oss uses 'yarn'", key, (int)(sl > 20 ? 20 : sl), st);

    /* Sanity of the architecture. */
    if (!h->n_layer || !h->n_embd || !h->n_head || !h->head_dim || !h->n_expert || !h->n_ff_expert)
        return lfail(L, "a model dimension is zero (block_count, embedding_length, head_count, key_length, "
                        "expert_count or expert_feed_forward_length)");
    if (h->n_head_kv == 0 || h->n_head % h->n_head_kv)
        return lfail(L, "attention.head_count %u is not a multiple of head_count_kv %u", h->n_head, h->n_head_kv);
    if (h->head_dim % 2 || vlen != h->head_dim || rdim != h->head_dim)
        return lfail(L, "head size %u (value %u, rope %u): must be even and equal", h->head_dim, vlen, rdim);
    if (h->n_expert_used == 0 || h->n_expert_used > h->n_expert || h->n_expert_used > LLM_MAX_USED)
        return lfail(L, "expert_used_count %u must be 1..expert_count (%u) and at most %d", h->n_expert_used,
                     h->n_expert, LLM_MAX_USED);
    if (h->sliding_window == 0 || h->swa_pattern == 0)
        return lfail(L, "attention.sliding_window and sliding_window_pattern must be at least 1");
    if (!(h->rms_eps > 0 && h->rms_eps < 1))
        return lfail(L, "layer_norm_rms_epsilon %g is out of range", (double)h->rms_eps);
    if (!(h->rope_base > 1) || !(h->rope_scale >= 1) || h->yarn_orig_ctx == 0 || !(h->yarn_beta_fast > 0) ||
        !(h->yarn_beta_slow > 0) || !(h->attn_factor > 0))
        return lfail(L, "RoPE/YaRN parameters out of range (freq_base %g, factor %g, original context %u)",
                     (double)h->rope_base, (double)h->rope_scale, h->yarn_orig_ctx);
    if (h->n_embd % 32 || h->n_ff_expert % 32 || (h->n_head * h->head_dim) % 32)
        return lfail(L, "model widths must be multiples of 32 (embedding %u, expert %u, attention %u)", h->n_embd,
                     h->n_ff_expert, h->n_head * h->head_dim);
    return 0;
}

/* YaRN (gpt-oss.md 6.4): blended frequency per rotated pair, and m. */
static int init_rope(relief_model *m, bool round_like_llamacpp)
{
    relief_model_info *h = &m->info;
    uint32_t half = h->head_dim / 2;
    m->rope_freq = malloc(half * sizeof *m->rope_freq);
    if (!m->rope_freq)
        return -1;
    double d = h->head_dim, theta = h->rope_base, s = h->rope_scale;
    double lo = d * log(h->yarn_orig_ctx / (2 * M_PI * h->yarn_beta_fast)) / (2 * log(theta));
    double hi = d * log(h->yarn_orig_ctx / (2 * M_PI * h->yarn_beta_slow)) / (2 * log(theta));
    if (round_like_llamacpp) {
        lo = floor(lo);
        hi = ceil(hi);
    }
    if (lo < 0)
        lo = 0;
    if (hi > d - 1)
        hi = d - 1;
    double span = hi - lo < 0.001 ? 0.001 : hi - lo;
    for (uint32_t i = 0; i < half; i++) {
        double f_ex = pow(theta, -2.0 * i / d);
        double f_in = f_ex / s;
        double r = (i - lo) / span;
        r = r < 0 ? 0 : r > 1 ? 1 : r;
        double w = 1 - r;
        m->rope_freq[i] = (float)(s > 1 ? f_in * (1 - w) + f_ex * w : f_ex);
    }
    m->rope_mscale = (float)((s > 1 ? 0.1 * log(s) + 1 : 1.0) * h->attn_factor);
    return 0;
}

/* Per-layer tensors, with Ollama's alternates (gpt-oss.md 9.4). */
static int load_layer(loader *L, uint32_t l)
{
    relief_model *m = L->m;
    const relief_model_info *h = &m->info;
    llm_layer *ly = &m->layers[l];
    uint32_t H = h->n_embd, QD = h->n_head * h->head_dim, KD = h->n_head_kv * h->head_dim;
    uint32_t E = h->n_expert, I = h->n_ff_expert;
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%u." s, l), n)
#define ALT(a, b) (gguf_tensor_find(L->f, NAME(a)) ? NAME(a) : NAME(b))
    ly->sliding = (l % h->swa_pattern) < h->swa_pattern - 1;
    if (!(ly->attn_norm = get_vec(L, NAME("attn_norm.weight"), H)))
        return -1;
    if (!(ly->moe_norm = get_vec(L, ALT("post_attention_norm.weight", "ffn_norm.weight"), H)))
        return -1;
    if (gguf_tensor_find(L->f, NAME("attn_qkv.weight"))) {
        qmat qkv;
        if (get_mat(L, NAME("attn_qkv.weight"), H, QD + 2 * KD, 0, &qkv) < 0)
            return -1;
        ly->wq = ly->wk = ly->wv = qkv;
        ly->wq.rows = QD;
        ly->wk.rows = ly->wv.rows = KD;
        ly->wk.data = qkv.data + (size_t)QD * qkv.row_stride;
        ly->wv.data = qkv.data + (size_t)(QD + KD) * qkv.row_stride;
        const float *b = get_vec(L, NAME("attn_qkv.bias"), QD + 2 * KD);
        if (!b)
            return -1;
        ly->bq = b;
        ly->bk = b + QD;
        ly->bv = b + QD + KD;
    } else {
        if (get_mat(L, NAME("attn_q.weight"), H, QD, 0, &ly->wq) < 0 ||
            get_mat(L, NAME("attn_k.weight"), H, KD, 0, &ly->wk) < 0 ||
            get_mat(L, NAME("attn_v.weight"), H, KD, 0, &ly->wv) < 0)
            return -1;
        if (!(ly->bq = get_vec(L, NAME("attn_q.bias"), QD)) || !(ly->bk = get_vec(L, NAME("attn_k.bias"), KD)) ||
            !(ly->bv = get_vec(L, NAME("attn_v.bias"), KD)))
            return -1;
    }
    if (get_mat(L, ALT("attn_output.weight", "attn_out.weight"), QD, H, 0, &ly->wo) < 0)
        return -1;
    if (!(ly->bo = get_vec(L, ALT("attn_output.bias", "attn_out.bias"), H)))
        return -1;
    if (!(ly->sinks = get_vec(L, ALT("attn_sinks.weight", "attn_sinks"), h->n_head)))
        return -1;
    if (get_mat(L, NAME("ffn_gate_inp.weight"), H, E, 0, &ly->router) < 0)
        return -1;
    if (!(ly->router_b = get_vec(L, NAME("ffn_gate_inp.bias"), E)))
        return -1;
    if (gguf_tensor_find(L->f, NAME("ffn_gate_up_exps.weight"))) {
        /* Ollama: one tensor with interleaved output rows (even gate, odd up). */
        qmat gu;
        if (get_mat(L, NAME("ffn_gate_up_exps.weight"), H, 2 * I, E, &gu) < 0)
            return -1;
        ly->gate = ly->up = gu;
        ly->gate.rows = ly->up.rows = I;
        ly->gate.row_stride = ly->up.row_stride = 2 * gu.row_bytes;
        ly->up.data = gu.data + gu.row_bytes;
        const float *b = get_vec(L, NAME("ffn_gate_up_exps.bias"), (uint64_t)2 * I * E);
        if (!b)
            return -1;
        float *gb = malloc((size_t)I * E * sizeof *gb), *ub = malloc((size_t)I * E * sizeof *ub);
        if (!gb || !ub || own(m, gb) < 0 || own(m, ub) < 0) {
            free(gb);
            free(ub);
            return lfail(L, "out of memory");
        }
        for (size_t i = 0; i < (size_t)I * E; i++) {
            gb[i] = b[2 * i];
            ub[i] = b[2 * i + 1];
        }
        ly->gate_b = gb;
        ly->up_b = ub;
    } else {
        if (get_mat(L, NAME("ffn_gate_exps.weight"), H, I, E, &ly->gate) < 0 ||
            get_mat(L, NAME("ffn_up_exps.weight"), H, I, E, &ly->up) < 0)
            return -1;
        if (!(ly->gate_b = get_vec(L, NAME("ffn_gate_exps.bias"), (uint64_t)I * E)) ||
            !(ly->up_b = get_vec(L, NAME("ffn_up_exps.bias"), (uint64_t)I * E)))
            return -1;
    }
    if (get_mat(L, NAME("ffn_down_exps.weight"), I, H, E, &ly->down) < 0)
        return -1;
    if (!(ly->down_b = get_vec(L, NAME("ffn_down_exps.bias"), (uint64_t)H * E)))
        return -1;
#undef NAME
#undef ALT
    return 0;
}

static void progress(const char *what, uint64_t done, uint64_t total)
{
    int pct = total ? (int)(done * 100 / total) : 100;
    int bar = pct / 4;
    fprintf(stderr, "\r%s [%.*s%*s] %3d%%", what, bar, "#########################", 25 - bar, "", pct);
    if (done >= total)
        fputc('\n', stderr);
}

/* Touches every page once so the first token does not pay for disk reads;
 * shows a progress bar on a TTY. */
static void page_in(const relief_model *m, bool quiet)
{
    const gguf_file *f = m->gguf;
    bool tty = !quiet && isatty(STDERR_FILENO);
    madvise((void *)f->map, f->size, MADV_WILLNEED);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), step = 64u << 20;
    volatile uint8_t sink = 0;
    for (size_t off = 0; off < f->size; off += page) {
        sink ^= f->map[off];
        if (tty && (off % step) < page)
            progress("loading model", off, f->size);
    }
    if (tty)
        progress("loading model", f->size, f->size);
    (void)sink;
}

relief_model *relief_model_load(const char *path, const relief_model_params *params, char *err, size_t cap)
{
    relief_model_params def = {0};
    if (!params)
        params = &def;
    relief_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    m->gguf = gguf_open(path, err, cap);
    if (!m->gguf) {
        free(m);
        return NULL;
    }
    loader L = {.m = m, .f = m->gguf, .err = err, .cap = cap};
    L.used = calloc(m->gguf->n_tensors ? m->gguf->n_tensors : 1, sizeof *L.used);
    relief_model_info *h = &m->info;
    const char *arch;
    size_t alen;
    int rc = L.used ? 0 : lfail(&L, "out of memory");
    if (rc == 0)
        rc = gguf_get_str(m->gguf, "general.architecture", true, &arch, &alen, err, cap);
    if (rc == 0) {
        if ((alen == 7 && !memcmp(arch, "gpt-oss", 7)) || (alen == 6 && !memcmp(arch, "gptoss", 6))) {
            memcpy(h->arch, arch, alen);
            h->arch[alen] = '\0';
            memcpy(L.prefix, arch, alen);
            L.prefix[alen] = '\0';
            L.ollama = alen == 6;
        } else {
            rc = lfail(&L, "architecture '%.*s' is not gpt-oss", (int)(alen > 30 ? 30 : alen), arch);
        }
    }
    if (rc == 0)
        rc = read_hparams(&L);
    h->yarn_round_like_llamacpp = params->yarn_round_like_llamacpp;
    if (rc == 0 && !(m->tok = tok_load(m->gguf, err, cap)))
        rc = -1;
    if (rc == 0) {
        h->n_vocab = (uint32_t)tok_vocab_size(m->tok);
        rc = get_mat(&L, "token_embd.weight", h->n_embd, h->n_vocab, 0, &m->tok_embd);
    }
    if (rc == 0) {
        if (gguf_tensor_find(m->gguf, "output.weight"))
            rc = get_mat(&L, "output.weight", h->n_embd, h->n_vocab, 0, &m->output);
        else if (L.ollama)
            m->output = m->tok_embd; /* Ollama: output falls back to the embedding */
        else
            rc = lfail(&L, "required tensor 'output.weight' is missing");
    }
    if (rc == 0 && !(m->out_norm = get_vec(&L, "output_norm.weight", h->n_embd)))
        rc = -1;
    if (rc == 0 && !(m->layers = calloc(h->n_layer, sizeof *m->layers)))
        rc = lfail(&L, "out of memory");
    for (uint32_t l = 0; rc == 0 && l < h->n_layer; l++)
        rc = load_layer(&L, l);
    for (uint64_t i = 0; rc == 0 && i < m->gguf->n_tensors; i++)
        if (!L.used[i])
            rc = lfail(&L, "unexpected tensor '%s' (not part of gpt-oss with %u layers)", m->gguf->tensors[i].name,
                       h->n_layer);
    if (rc == 0 && init_rope(m, params->yarn_round_like_llamacpp) < 0)
        rc = lfail(&L, "out of memory");
    free(L.used);
    if (rc < 0) {
        relief_model_free(m);
        return NULL;
    }
    h->file_bytes = m->gguf->size;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
        h->weight_bytes += m->gguf->tensors[i].nbytes;
    if (!params->no_warmup)
        page_in(m, params->quiet);
    return m;
}

void relief_model_free(relief_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->rope_freq);
    tok_free(m->tok);
    gguf_close(m->gguf);
    free(m);
}

const relief_model_info *relief_model_get_info(const relief_model *m)
{
    return &m->info;
}

int relief_model_tokenize(const relief_model *m, const char *text, size_t len, bool special, int32_t **ids,
                          size_t *n)
{
    return tok_encode(m->tok, text, len, special, ids, n);
}

int32_t relief_model_token_id(const relief_model *m, const char *text)
{
    return tok_find(m->tok, text);
}

size_t relief_model_vocab(const relief_model *m)
{
    return m->info.n_vocab;
}

const relief_tokenizer *model_tokenizer(const relief_model *m)
{
    return m->tok;
}
