/*
 * model.h - internal layout of a loaded gpt-oss model: hyper-parameters
 * and per-layer weight views into the memory-mapped GGUF file.
 */
#ifndef RELIEF_MODEL_H
#define RELIEF_MODEL_H

#include "relief/llm.h"
#include "gguf.h"
#include "kernels.h"
#include "tokenizer.h"

/* A weight matrix (or a stack of per-expert matrices) in place in the map.
 * Row r of expert e starts at data + e*expert_stride + r*row_stride. */
typedef struct {
    uint32_t type;
    const uint8_t *data;
    size_t row_bytes;       /* bytes of one row of cols elements */
    size_t row_stride;      /* bytes between consecutive rows (> row_bytes for interleaved views) */
    size_t expert_stride;
    uint32_t rows, cols, n_expert;
    kern_dot_fn dot;        /* dot product kernel for this type */
    kern_qdot_fn qdot;      /* the fast path's, with 8-bit activations (NULL: none for this type) */
    kern_qgemm_fn qgemm;    /* its batched form */
} qmat;

typedef struct {
    const float *attn_norm, *moe_norm;
    qmat wq, wk, wv, wo;
    const float *bq, *bk, *bv, *bo;
    const float *sinks;
    qmat router;
    const float *router_b;
    qmat gate, up, down;          /* n_expert matrices each */
    const float *gate_b, *up_b, *down_b; /* [n_expert][rows] */
    bool sliding;
} llm_layer;

struct relief_model {
    gguf_file *gguf;
    relief_model_info info;
    qmat tok_embd, output;
    const float *out_norm;
    llm_layer *layers;
    relief_tokenizer *tok;
    float *rope_freq;             /* head_dim/2 blended YaRN frequencies */
    float rope_mscale;            /* YaRN magnitude factor m */
    void **owned;                 /* converted 1-D tensors to free */
    size_t n_owned, cap_owned;
};

/* The model's tokenizer (owned by the model). */
const relief_tokenizer *model_tokenizer(const relief_model *m);

/* Row r (of expert e) of a qmat. */
static inline const uint8_t *qmat_row(const qmat *m, uint32_t e, uint32_t r)
{
    return m->data + (size_t)e * m->expert_stride + (size_t)r * m->row_stride;
}

#endif
