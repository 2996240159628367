/*
 * lora.c - loads LoRA adapters (PEFT directory or .safetensors with its
 * adapter_config.json; llama.cpp GGUF adapters) for a loaded model, and
 * attaches them to inference contexts. See lora.h and relief/llm.h.
 *
 * What is supported: LoRA on the attention projections q, k, v, o of any
 * subset of layers, any rank per projection (PEFT rank_pattern and
 * alpha_pattern with literal module names), rsLoRA, weights in F32, F16 or
 * BF16 (GGUF adapters also Q8_0). Refused with an error naming the cause:
 * MLP/expert/router/embedding/lm_head targets (PEFT target_parameters,
 * gate_up_proj, down_proj, experts, ffn_* tensors), DoRA, LoRA biases,
 * modules_to_save, trainable tokens, fan_in_fan_out, layer replication,
 * activated LoRA, other PEFT types (LoHa, IA3, ...), regular-expression
 * patterns, shapes that do not fit the model, rank 0, missing A or B,
 * unknown tensors and other dtypes. Every tensor comes from a validated
 * reader (gguf.c, safetensors.c); shapes are checked against the model
 * before anything is allocated from them.
 */
#include "lora.h"
#include "llm_int.h"
#include "quant.h"
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LORA_MAX_RANK 65536u
#define CONFIG_MAX (16u << 20)

static const char *const proj_peft[LORA_NPROJ] = {"q_proj", "k_proj", "v_proj", "o_proj"};
static const char *const proj_gguf[LORA_NPROJ] = {"attn_q", "attn_k", "attn_v", "attn_output"};

/* One side (A or B) of an adapted projection, before conversion. */
typedef struct {
    const char *name;
    uint64_t rows, cols;
    const gguf_tensor *g;
    const st_tensor *s;
} lside;

typedef struct {
    lside a, b;
    double alpha;           /* PEFT: lora_alpha (or alpha_pattern); GGUF: adapter.lora.alpha, 0 = none */
    uint32_t want_rank;     /* PEFT: r (or rank_pattern); 0 = any */
} lmod;

typedef struct {
    const relief_model *m;
    relief_lora *l;
    lmod *mods;             /* [n_layer][LORA_NPROJ] */
    bool rslora;
    bool gguf;
    char *err;
    size_t cap;
} lload;

static int lerr(lload *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lerr(lload *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->cap, fmt, ap);
    va_end(ap);
    return -1;
}

void relief_lora_free(relief_lora *l)
{
    if (!l)
        return;
    for (size_t i = 0; l->mats && i < (size_t)l->n_layer * LORA_NPROJ; i++) {
        free(l->mats[i].a);
        free(l->mats[i].bt);
    }
    free(l->mats);
    free(l);
}

/* ---- conversion ---- */

static int side_check_type(lload *L, const lside *s)
{
    if (s->g) {
        uint32_t t = s->g->type;
        if (t != GGML_F32 && t != GGML_F16 && t != GGML_BF16 && t != GGML_Q8_0) {
            const char *n = ggml_type_name(t);
            return lerr(L, "tensor '%s' has type %s; LoRA weights must be F32, F16, BF16 or Q8_0", s->name,
                        n ? n : "unknown");
        }
        return 0;
    }
    if (s->s->dtype != ST_F32 && s->s->dtype != ST_F16 && s->s->dtype != ST_BF16)
        return lerr(L, "tensor '%.200s' has dtype %s; LoRA weights must be F32, F16 or BF16", s->name,
                    st_dtype_name(s->s->dtype));
    return 0;
}

/* Writes the rows x cols values (row-major) to out. Type already checked. */
static void side_to_f32(const lside *s, float *out)
{
    if (s->s) {
        st_tensor_to_f32(s->s, out);
        return;
    }
    size_t rb = q_row_bytes(s->g->type, (size_t)s->cols);
    for (uint64_t r = 0; r < s->rows; r++)
        q_dequant_row(s->g->type, s->g->data + (size_t)r * rb, out + (size_t)r * s->cols, (size_t)s->cols);
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static uint64_t hash_floats(uint64_t h, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        h = mix64(h, b);
    }
    return h;
}

static const char *proj_label(int p)
{
    static const char *const n[LORA_NPROJ] = {"q", "k", "v", "o"};
    return n[p];
}

/* Validates every collected pair against the model, converts it, and
 * computes scales and the fingerprint. */
static int finish(lload *L, float multiplier)
{
    relief_lora *l = L->l;
    uint64_t fp = 1469598103934665603ull;
    for (uint32_t layer = 0; layer < l->n_layer; layer++)
        for (int p = 0; p < LORA_NPROJ; p++) {
            lmod *md = &L->mods[(size_t)layer * LORA_NPROJ + (size_t)p];
            lora_mat *mt = &l->mats[(size_t)layer * LORA_NPROJ + (size_t)p];
            if (!md->a.name && !md->b.name)
                continue;
            if (!md->a.name || !md->b.name)
                return lerr(L, "layer %u %s projection: '%.200s' has no matching %s tensor", layer, proj_label(p),
                            md->a.name ? md->a.name : md->b.name, md->a.name ? "B (lora_b)" : "A (lora_a)");
            uint32_t in = p == LORA_O ? l->q_dim : l->n_embd;
            uint32_t out = p == LORA_Q ? l->q_dim : p == LORA_O ? l->n_embd : l->kv_dim;
            uint64_t rank = md->a.rows;
            if (rank == 0 || md->b.cols == 0)
                return lerr(L, "tensor '%.200s': rank 0 (an adapter needs rank >= 1)", rank ? md->b.name : md->a.name);
            if (md->a.cols != in)
                return lerr(L, "tensor '%.200s' has %llu inputs per row, but the model's layer %u %s projection "
                               "takes %u (an adapter for another model?)",
                            md->a.name, (unsigned long long)md->a.cols, layer, proj_label(p), in);
            if (md->b.rows != out)
                return lerr(L, "tensor '%.200s' has %llu output rows, but the model's layer %u %s projection "
                               "gives %u (an adapter for another model?)",
                            md->b.name, (unsigned long long)md->b.rows, layer, proj_label(p), out);
            if (md->b.cols != rank)
                return lerr(L, "tensor '%.200s' has rank %llu but '%.200s' has rank %llu", md->a.name,
                            (unsigned long long)rank, md->b.name, (unsigned long long)md->b.cols);
            if (rank > LORA_MAX_RANK)
                return lerr(L, "tensor '%.200s': rank %llu above the limit %u", md->a.name, (unsigned long long)rank,
                            LORA_MAX_RANK);
            if (md->want_rank && rank != md->want_rank)
                return lerr(L, "tensor '%.200s' has rank %llu but adapter_config.json says r = %u", md->a.name,
                            (unsigned long long)rank, md->want_rank);
            if (side_check_type(L, &md->a) < 0 || side_check_type(L, &md->b) < 0)
                return -1;
            mt->rank = (uint32_t)rank;
            mt->in = in;
            mt->out = out;
            double s;
            if (L->gguf)
                s = md->alpha != 0 ? md->alpha / (double)rank : 1.0; /* llama.cpp: no alpha, no rescaling */
            else
                s = L->rslora ? md->alpha / sqrt((double)rank) : md->alpha / (double)rank;
            mt->scale = (float)(s * multiplier);
            if (!isfinite(mt->scale))
                return lerr(L, "layer %u %s projection: the scale (alpha %g, rank %u, multiplier %g) is not finite",
                            layer, proj_label(p), md->alpha, mt->rank, (double)multiplier);
            mt->a = malloc((size_t)rank * in * sizeof(float));
            mt->bt = malloc((size_t)rank * out * sizeof(float));
            float *b = malloc((size_t)rank * out * sizeof(float));
            if (!mt->a || !mt->bt || !b) {
                free(b);
                return lerr(L, "out of memory for the adapter");
            }
            side_to_f32(&md->a, mt->a);
            side_to_f32(&md->b, b);
            for (uint32_t o = 0; o < out; o++)
                for (uint32_t k = 0; k < mt->rank; k++)
                    mt->bt[(size_t)k * out + o] = b[(size_t)o * mt->rank + k];
            free(b);
            for (size_t i = 0; i < (size_t)rank * in; i++)
                if (!isfinite(mt->a[i]))
                    return lerr(L, "tensor '%.200s' holds a value that is not finite", md->a.name);
            for (size_t i = 0; i < (size_t)rank * out; i++)
                if (!isfinite(mt->bt[i]))
                    return lerr(L, "tensor '%.200s' holds a value that is not finite", md->b.name);
            l->max_rank = mt->rank > l->max_rank ? mt->rank : l->max_rank;
            l->n_mats++;
            uint32_t sb;
            memcpy(&sb, &mt->scale, 4);
            fp = mix64(mix64(mix64(fp, layer), (uint64_t)p), ((uint64_t)mt->rank << 32) | sb);
            fp = hash_floats(hash_floats(fp, mt->a, (size_t)rank * in), mt->bt, (size_t)rank * out);
        }
    if (l->n_mats == 0)
        return lerr(L, "the adapter holds no LoRA tensors for the attention projections");
    l->fingerprint = fp ? fp : 1;
    return 0;
}

/* ---- llama.cpp GGUF adapters ---- */

/* Parses "blk.N.<proj>.weight.lora_{a,b}"; 1 with the parts, 0 otherwise. */
static int gguf_name(const char *name, uint32_t *layer, int *proj, int *side)
{
    if (strncmp(name, "blk.", 4))
        return 0;
    const char *p = name + 4;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9' && n <= UINT32_MAX)
        n = n * 10 + (uint64_t)(*p++ - '0');
    if (*p++ != '.' || n > UINT32_MAX)
        return 0;
    for (int i = 0; i < LORA_NPROJ; i++) {
        size_t k = strlen(proj_gguf[i]);
        if (!strncmp(p, proj_gguf[i], k) &&
            (!strcmp(p + k, ".weight.lora_a") || !strcmp(p + k, ".weight.lora_b"))) {
            *layer = (uint32_t)n;
            *proj = i;
            *side = p[k + 13] == 'b';
            return 1;
        }
    }
    return 0;
}

static bool str_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && !memcmp(s, want, n);
}

static int load_gguf(lload *L, const char *path, gguf_file **keep)
{
    gguf_file *g = gguf_open(path, L->err, L->cap);
    if (!g)
        return -1;
    *keep = g;
    const char *s;
    size_t n;
    if (gguf_get_str(g, "general.type", true, &s, &n, L->err, L->cap) < 0)
        return lerr(L, "%s: not a GGUF adapter (general.type is missing)", path);
    if (!str_is(s, n, "adapter"))
        return lerr(L, "%s: not a GGUF adapter: general.type is '%.*s', not 'adapter'", path,
                    (int)(n > 40 ? 40 : n), s);
    if (gguf_get_str(g, "adapter.type", true, &s, &n, L->err, L->cap) < 0)
        return lerr(L, "%s: adapter.type is missing or not a string", path);
    if (!str_is(s, n, "lora"))
        return lerr(L, "%s: adapter.type is '%.*s'; only 'lora' adapters are supported", path, (int)(n > 40 ? 40 : n),
                    s);
    if (gguf_get_str(g, "general.architecture", true, &s, &n, L->err, L->cap) < 0)
        return lerr(L, "%s: general.architecture is missing or not a string", path);
    if (!str_is(s, n, "gpt-oss") && !str_is(s, n, "gptoss"))
        return lerr(L, "%s: the adapter is for architecture '%.*s', the model is %s", path, (int)(n > 40 ? 40 : n), s,
                    L->m->info.arch);
    if (gguf_find(g, "adapter.alora.invocation_tokens"))
        return lerr(L, "%s: activated LoRA (adapter.alora.*) is not supported", path);
    double alpha = 0;
    if (gguf_get_float(g, "adapter.lora.alpha", false, &alpha, L->err, L->cap) < 0)
        return lerr(L, "%s: adapter.lora.alpha is not a finite float", path);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint32_t layer;
        int proj, side;
        if (!gguf_name(t->name, &layer, &proj, &side)) {
            if (strstr(t->name, "ffn") || strstr(t->name, "exps") || strstr(t->name, "gate_inp"))
                return lerr(L, "%s: tensor '%s': LoRA on the MLP/experts/router is not supported (only attn_q, "
                               "attn_k, attn_v, attn_output)", path, t->name);
            return lerr(L, "%s: tensor '%s' is not supported (LoRA applies to blk.N.attn_{q,k,v,output}.weight "
                           "only)", path, t->name);
        }
        if (layer >= L->l->n_layer)
            return lerr(L, "%s: tensor '%s' is for layer %u, but the model has %u layers", path, t->name, layer,
                        L->l->n_layer);
        if (t->n_dims != 2)
            return lerr(L, "%s: tensor '%s' has %u dimensions, expected 2", path, t->name, t->n_dims);
        lmod *md = &L->mods[(size_t)layer * LORA_NPROJ + (size_t)proj];
        lside *sd = side ? &md->b : &md->a;
        /* ggml ne[0] is the row length: lora_a {in, r} = A [r][in]; lora_b {r, out} = B [out][r]. */
        *sd = (lside){.name = t->name, .rows = t->ne[1], .cols = t->ne[0], .g = t};
        md->alpha = alpha;
    }
    L->gguf = true;
    return 0;
}

/* ---- PEFT ---- */

/* A pattern key of rank_pattern / alpha_pattern matches a module name when
 * equal to it or to a dot-separated suffix of it. Regular expressions are
 * refused (checked when the config is read). */
static bool pattern_matches(const char *key, const char *module)
{
    size_t k = strlen(key), m = strlen(module);
    return k <= m && !strcmp(module + m - k, key) && (k == m || module[m - k - 1] == '.');
}

static bool pattern_literal(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.'))
            return false;
    return true;
}

typedef struct {
    uint32_t r;
    double alpha;
    bool rslora;
    const json_t *rank_pattern, *alpha_pattern;  /* objects or NULL */
} peft_cfg;

static bool cfg_true(const json_t *v)
{
    return v && json_is_true(v);
}

static bool json_nonempty(const json_t *v)
{
    if (!v || json_is_null(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    return !json_is_false(v);
}

static int check_target(lload *L, const char *cfgpath, const char *t)
{
    const char *last = strrchr(t, '.');
    last = last ? last + 1 : t;
    for (int i = 0; i < LORA_NPROJ; i++)
        if (!strcmp(last, proj_peft[i]))
            return 0;
    return lerr(L, "%s: target module '%.100s' is not supported: relief applies LoRA to the attention projections "
                   "q_proj, k_proj, v_proj, o_proj only (MLP/expert, router, embedding and lm_head targets are "
                   "refused)", cfgpath, t);
}

static int check_pattern(lload *L, const char *cfgpath, const char *field, const json_t *obj)
{
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return lerr(L, "%s: '%s' is not a JSON object", cfgpath, field);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (!pattern_literal(k))
            return lerr(L, "%s: %s key '%.100s' is a regular expression; only literal module names are supported",
                        cfgpath, field, k);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return lerr(L, "%s: %s value for '%.100s' is not a number", cfgpath, field, k);
        if (!strcmp(field, "rank_pattern") && (!json_is_integer(v) || json_integer_value(v) < 1 ||
                                               json_integer_value(v) > (json_int_t)LORA_MAX_RANK))
            return lerr(L, "%s: rank_pattern gives '%.100s' rank %g (must be an integer from 1 to %u)", cfgpath, k,
                        json_number_value(v), LORA_MAX_RANK);
    }
    return 0;
}

static int read_peft_config(lload *L, const char *cfgpath, peft_cfg *pc, json_t **keep)
{
    FILE *f = fopen(cfgpath, "rb");
    if (!f)
        return lerr(L, "%s: cannot open: %s (a PEFT adapter needs its adapter_config.json)", cfgpath, strerror(errno));
    char *buf = malloc(CONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_MAX + 1, f) : 0;
    bool rd_err = ferror(f);
    fclose(f);
    if (!buf)
        return lerr(L, "out of memory");
    if (rd_err || n > CONFIG_MAX) {
        free(buf);
        return lerr(L, "%s: %s", cfgpath, rd_err ? "read error" : "larger than 16 MiB");
    }
    json_error_t je;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root)
        return lerr(L, "%s: not valid JSON: %s (line %d)", cfgpath, je.text, je.line);
    *keep = root;
    if (!json_is_object(root))
        return lerr(L, "%s: not a JSON object", cfgpath);
    const json_t *v = json_object_get(root, "peft_type");
    if (v && !json_is_null(v) && !(json_is_string(v) && !strcmp(json_string_value(v), "LORA")))
        return lerr(L, "%s: peft_type is %s%.40s%s; only LORA adapters are supported", cfgpath,
                    json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "not a string",
                    json_is_string(v) ? "'" : "");
    v = json_object_get(root, "r");
    if (!json_is_integer(v))
        return lerr(L, "%s: 'r' (the rank) is missing or not an integer", cfgpath);
    if (json_integer_value(v) < 1)
        return lerr(L, "%s: rank r = %lld; an adapter needs rank >= 1", cfgpath, (long long)json_integer_value(v));
    if (json_integer_value(v) > (json_int_t)LORA_MAX_RANK)
        return lerr(L, "%s: rank r = %lld above the limit %u", cfgpath, (long long)json_integer_value(v), LORA_MAX_RANK);
    pc->r = (uint32_t)json_integer_value(v);
    pc->alpha = 8; /* PEFT's default lora_alpha */
    v = json_object_get(root, "lora_alpha");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return lerr(L, "%s: lora_alpha is not a number", cfgpath);
        pc->alpha = json_number_value(v);
    }
    v = json_object_get(root, "use_rslora");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return lerr(L, "%s: use_rslora is not true or false", cfgpath);
    pc->rslora = cfg_true(v);
    static const struct {
        const char *key, *why;
    } refused[] = {
        {"use_dora", "DoRA (use_dora) is not supported"},
        {"fan_in_fan_out", "fan_in_fan_out weights (Conv1D layout) are not supported"},
        {"lora_bias", "LoRA biases (lora_bias) are not supported"},
        {"modules_to_save", "modules_to_save (full copies of other modules) are not supported"},
        {"target_parameters",
         "target_parameters (LoRA on expert parameters such as mlp.experts.gate_up_proj) are not supported; only "
         "the attention projections q_proj, k_proj, v_proj, o_proj"},
        {"trainable_token_indices", "trainable tokens are not supported"},
        {"layer_replication", "layer_replication is not supported"},
        {"alora_invocation_tokens", "activated LoRA (alora_invocation_tokens) is not supported"},
        {"use_qalora", "QALoRA is not supported"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (json_nonempty(json_object_get(root, refused[i].key)))
            return lerr(L, "%s: %s", cfgpath, refused[i].why);
    v = json_object_get(root, "bias");
    if (v && !json_is_null(v) && !(json_is_string(v) && !strcmp(json_string_value(v), "none")))
        return lerr(L, "%s: bias = %s%.20s%s: trained biases are not supported (only \"none\")", cfgpath,
                    json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "non-string",
                    json_is_string(v) ? "'" : "");
    v = json_object_get(root, "target_modules");
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            if (!json_is_string(e))
                return lerr(L, "%s: target_modules entry %zu is not a string", cfgpath, i);
            if (check_target(L, cfgpath, json_string_value(e)) < 0)
                return -1;
        }
    } else if (v && !json_is_null(v) && !json_is_string(v)) {
        return lerr(L, "%s: target_modules is neither a list nor a string", cfgpath);
    } else if (json_is_string(v) && pattern_literal(json_string_value(v)) &&
               strcmp(json_string_value(v), "all-linear") && check_target(L, cfgpath, json_string_value(v)) < 0) {
        return -1;
    } /* a regular expression is not evaluated: the tensors in the file decide */
    pc->rank_pattern = json_object_get(root, "rank_pattern");
    pc->alpha_pattern = json_object_get(root, "alpha_pattern");
    if (check_pattern(L, cfgpath, "rank_pattern", pc->rank_pattern) < 0 ||
        check_pattern(L, cfgpath, "alpha_pattern", pc->alpha_pattern) < 0)
        return -1;
    return 0;
}

static const json_t *pattern_find(const json_t *obj, const char *module)
{
    if (!obj || !json_is_object(obj))
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (pattern_matches(k, module))
            return v;
    }
    return NULL;
}

/* Parses "[base_model.model.]model.layers.N.self_attn.X_proj.lora_{A,B}.weight". */
static int peft_name(const char *name, uint32_t *layer, int *proj, int *side)
{
    const char *p = name;
    if (!strncmp(p, "base_model.model.", 17))
        p += 17;
    if (strncmp(p, "model.layers.", 13))
        return 0;
    p += 13;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9' && n <= UINT32_MAX)
        n = n * 10 + (uint64_t)(*p++ - '0');
    if (n > UINT32_MAX || strncmp(p, ".self_attn.", 11))
        return 0;
    p += 11;
    for (int i = 0; i < LORA_NPROJ; i++)
        if (!strncmp(p, proj_peft[i], 6) && (!strcmp(p + 6, ".lora_A.weight") || !strcmp(p + 6, ".lora_B.weight"))) {
            *layer = (uint32_t)n;
            *proj = i;
            *side = p[12] == 'B';
            return 1;
        }
    return 0;
}

static int load_peft(lload *L, const char *st_path, const char *cfgpath, st_file **keep_st, json_t **keep_cfg)
{
    peft_cfg pc = {0};
    if (read_peft_config(L, cfgpath, &pc, keep_cfg) < 0)
        return -1;
    L->rslora = pc.rslora;
    st_file *f = st_open(st_path, L->err, L->cap);
    if (!f)
        return -1;
    *keep_st = f;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        uint32_t layer;
        int proj, side;
        if (!peft_name(t->name, &layer, &proj, &side)) {
            const char *why = "is not a LoRA weight of an attention projection (q_proj, k_proj, v_proj, o_proj)";
            if (strstr(t->name, "lora_magnitude_vector"))
                why = "is a DoRA magnitude: DoRA is not supported";
            else if (strstr(t->name, ".mlp.") || strstr(t->name, "experts") || strstr(t->name, "router"))
                why = "is on the MLP/experts/router: only the attention projections q, k, v, o are supported";
            else if (strstr(t->name, "embed") || strstr(t->name, "lm_head"))
                why = "is on the embedding or lm_head: not supported";
            else if (strstr(t->name, "lora_") && strstr(t->name, ".bias"))
                why = "is a LoRA bias: not supported";
            return lerr(L, "%s: tensor '%.200s' %s", st_path, t->name, why);
        }
        if (layer >= L->l->n_layer)
            return lerr(L, "%s: tensor '%.200s' is for layer %u, but the model has %u layers", st_path, t->name, layer,
                        L->l->n_layer);
        if (t->n_dims != 2)
            return lerr(L, "%s: tensor '%.200s' has %u dimensions, expected 2", st_path, t->name, t->n_dims);
        lmod *md = &L->mods[(size_t)layer * LORA_NPROJ + (size_t)proj];
        lside *sd = side ? &md->b : &md->a;
        if (sd->name)
            return lerr(L, "%s: tensors '%.200s' and '%.200s' are the same weight", st_path, sd->name, t->name);
        *sd = (lside){.name = t->name, .rows = t->shape[0], .cols = t->shape[1], .s = t};
        char module[96];
        snprintf(module, sizeof module, "model.layers.%u.self_attn.%s", layer, proj_peft[proj]);
        const json_t *rp = pattern_find(pc.rank_pattern, module), *ap = pattern_find(pc.alpha_pattern, module);
        md->want_rank = rp ? (uint32_t)json_integer_value(rp) : pc.r;
        md->alpha = ap ? json_number_value(ap) : pc.alpha;
    }
    return 0;
}

/* ---- entry point ---- */

static bool has_gguf_magic(const char *path)
{
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    bool yes = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    if (f)
        fclose(f);
    return yes;
}

relief_lora *relief_lora_load(const relief_model *m, const char *path, float multiplier, char *err, size_t cap)
{
    if (!isfinite(multiplier)) {
        snprintf(err, cap, "%s: the LoRA multiplier is not a finite number", path);
        return NULL;
    }
    const relief_model_info *h = &m->info;
    relief_lora *l = calloc(1, sizeof *l);
    lmod *mods = calloc((size_t)h->n_layer * LORA_NPROJ, sizeof *mods);
    if (l)
        l->mats = calloc((size_t)h->n_layer * LORA_NPROJ, sizeof *l->mats);
    if (!l || !mods || !l->mats) {
        free(mods);
        relief_lora_free(l);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    l->n_layer = h->n_layer;
    l->n_embd = h->n_embd;
    l->q_dim = h->n_head * h->head_dim;
    l->kv_dim = h->n_head_kv * h->head_dim;
    l->multiplier = multiplier;
    lload L = {.m = m, .l = l, .mods = mods, .err = err, .cap = cap};
    gguf_file *g = NULL;
    st_file *st = NULL;
    json_t *cfg = NULL;
    int rc;
    size_t plen = strlen(path);
    struct stat sb;
    if (plen > 4000) {
        rc = lerr(&L, "adapter path too long");
    } else if (stat(path, &sb) != 0) {
        rc = lerr(&L, "%s: cannot open: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        char stp[4200], cfp[4200], binp[4200];
        snprintf(stp, sizeof stp, "%s/adapter_model.safetensors", path);
        snprintf(cfp, sizeof cfp, "%s/adapter_config.json", path);
        snprintf(binp, sizeof binp, "%s/adapter_model.bin", path);
        if (stat(stp, &sb) != 0 && stat(binp, &sb) == 0)
            rc = lerr(&L, "%s: only adapter_model.bin (a PyTorch pickle) is there; relief reads "
                          "adapter_model.safetensors (save with safe_serialization=True)", path);
        else
            rc = load_peft(&L, stp, cfp, &st, &cfg);
        strcpy(l->format, "peft");
    } else if (has_gguf_magic(path)) {
        rc = load_gguf(&L, path, &g);
        strcpy(l->format, "gguf");
    } else {
        /* A .safetensors file: its adapter_config.json is in the same directory. */
        char cfp[4200];
        const char *slash = strrchr(path, '/');
        if (slash)
            snprintf(cfp, sizeof cfp, "%.*s/adapter_config.json", (int)(slash - path), path);
        else
            snprintf(cfp, sizeof cfp, "adapter_config.json");
        rc = load_peft(&L, path, cfp, &st, &cfg);
        strcpy(l->format, "peft");
    }
    if (rc == 0)
        rc = finish(&L, multiplier);
    gguf_close(g);
    st_close(st);
    json_decref(cfg);
    free(mods);
    if (rc < 0) {
        relief_lora_free(l);
        return NULL;
    }
    return l;
}

float relief_lora_multiplier(const relief_lora *l)
{
    return l->multiplier;
}

uint64_t relief_lora_fingerprint(const relief_lora *l)
{
    return l->fingerprint;
}

void relief_lora_describe(const relief_lora *l, char *buf, size_t cap)
{
    uint32_t min_rank = 0;
    bool has[LORA_NPROJ] = {false};
    for (size_t i = 0; i < (size_t)l->n_layer * LORA_NPROJ; i++) {
        uint32_t r = l->mats[i].rank;
        if (r && (!min_rank || r < min_rank))
            min_rank = r;
        has[i % LORA_NPROJ] |= r > 0;
    }
    char ranks[32];
    if (min_rank == l->max_rank)
        snprintf(ranks, sizeof ranks, "%u", min_rank);
    else
        snprintf(ranks, sizeof ranks, "%u..%u", min_rank, l->max_rank);
    snprintf(buf, cap, "%s LoRA: %u projections (%s%s%s%s), rank %s, multiplier %g", l->format, l->n_mats,
             has[0] ? "q" : "", has[1] ? "k" : "", has[2] ? "v" : "", has[3] ? "o" : "", ranks, (double)l->multiplier);
}

int relief_lora_parse_spec(const char *spec, char *path, size_t cap, float *multiplier)
{
    *multiplier = 1.0f;
    size_t n = strlen(spec);
    const char *colon = strrchr(spec, ':');
    if (colon && colon[1]) {
        char *end;
        errno = 0;
        double v = strtod(colon + 1, &end);
        if (!*end && errno == 0 && isfinite(v) && end != colon + 1) {
            /* A scale past RELIEF_LORA_MAX_SCALE is a typo, not a wish: it
             * would swamp the base weights with the low-rank delta. */
            if (!(fabs(v) <= RELIEF_LORA_MAX_SCALE))
                return -1;
            *multiplier = (float)v;
            n = (size_t)(colon - spec);
        }
    }
    if (n == 0 || n >= cap)
        return -1;
    memcpy(path, spec, n);
    path[n] = '\0';
    return 0;
}
