/*
 * lora.h - LoRA adapters in memory: for each layer and attention
 * projection (q, k, v, o) the low-rank pair A [rank][in] and B (stored
 * transposed, [rank][out], so the forward pass adds whole row ranges with
 * one axpy per rank) in f32, and the scale (alpha / r, or alpha / sqrt(r)
 * for rsLoRA, times the user's multiplier). The forward pass adds
 * scale * B (A x) after each adapted projection (bias included, as PEFT
 * does); the base weights are never touched.
 *
 * Sources (lora.c): a PEFT directory (adapter_config.json +
 * adapter_model.safetensors), a PEFT .safetensors file with its
 * adapter_config.json beside it, or a llama.cpp GGUF adapter
 * (general.type = adapter, adapter.type = lora).
 */
#ifndef RELIEF_LORA_H
#define RELIEF_LORA_H

#include "model.h"

enum { LORA_Q, LORA_K, LORA_V, LORA_O, LORA_NPROJ };

typedef struct {
    uint32_t rank;          /* 0: this projection is not adapted */
    uint32_t in, out;
    float scale;            /* 0: skipped (the output is bit-identical to the base) */
    float *a;               /* [rank][in] */
    float *bt;              /* [rank][out]: B transposed */
} lora_mat;

struct relief_lora {
    uint32_t n_layer, n_embd, q_dim, kv_dim;  /* the model shape it was validated against */
    lora_mat *mats;         /* [n_layer][LORA_NPROJ] */
    uint32_t max_rank;      /* largest rank of any projection (scratch sizing) */
    uint32_t n_mats;        /* projections adapted */
    float multiplier;
    uint64_t fingerprint;
    char format[8];         /* "peft" or "gguf" */
};

static inline const lora_mat *lora_mat_at(const relief_lora *l, uint32_t layer, int proj)
{
    return &l->mats[(size_t)layer * LORA_NPROJ + (size_t)proj];
}

#endif
