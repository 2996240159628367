/*
 * test_gguf.c - the GGUF reader on hostile files: every truncation point of
 * a real file, every header field and tensor-record field corrupted, and
 * hand-made files with absurd counts, duplicate keys, bad alignment, bad
 * types and extents past the end. Each must give an error naming the
 * problem, never a crash (run under ASan in `make asan`).
 *
 * usage: test_gguf FILE.gguf   (a valid model, e.g. the tiny oracle)
 */
#include "check.h"
#include "test_gguf_image.h"
#include "llm/gguf.h"
#include "llm/mapfile.h"
#include "llm/quant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Opens a private copy (so ASan sees reads past its end). */
static gguf_file *open_copy(const unsigned char *data, size_t len, char *err, size_t cap, unsigned char **copy)
{
    *copy = malloc(len ? len : 1);
    memcpy(*copy, data, len);
    return gguf_open_memory(*copy, len, err, cap);
}

static bool expect_error(const unsigned char *data, size_t len, const char *want)
{
    char err[512] = "";
    unsigned char *copy;
    gguf_file *f = open_copy(data, len, err, sizeof err, &copy);
    bool ok = f == NULL && strstr(err, want) != NULL;
    if (!ok)
        fprintf(stderr, "  wanted error containing '%s', got %s '%s'\n", want, f ? "success" : "error", err);
    gguf_close(f);
    free(copy);
    return ok;
}

static void test_handmade(void)
{
    gguf_image w = {0};
    gi_header(&w, 3, 0, 0);
    char err[256];
    gguf_file *f = gguf_open_memory(w.b, w.n, err, sizeof err);
    CHECK(f != NULL); /* empty but valid */
    gguf_close(f);

    CHECK(expect_error(w.b, 10, "too short"));
    gi_header(&w, 1, 0, 0);
    CHECK(expect_error(w.b, w.n, "version 1"));
    gi_header(&w, 0x03000000, 0, 0);
    CHECK(expect_error(w.b, w.n, "big-endian"));
    gi_header(&w, 7, 0, 0);
    CHECK(expect_error(w.b, w.n, "version 7"));
    memcpy(w.b, "GGUG", 4);
    CHECK(expect_error(w.b, w.n, "not a GGUF file"));
    /* A file claiming 2^40 tensors or keys is refused before any allocation. */
    gi_header(&w, 3, 1ull << 40, 0);
    CHECK(expect_error(w.b, w.n, "tensor count 1099511627776 is impossible"));
    gi_header(&w, 3, 0, 1ull << 40);
    CHECK(expect_error(w.b, w.n, "metadata count"));
    /* Duplicate key. */
    gi_header(&w, 3, 0, 2);
    gi_str(&w, "a.b"); gi_u32(&w, GGUF_T_U32); gi_u32(&w, 1);
    gi_str(&w, "a.b"); gi_u32(&w, GGUF_T_U32); gi_u32(&w, 2);
    CHECK(expect_error(w.b, w.n, "duplicate metadata key 'a.b'"));
    /* String longer than the file. */
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "k"); gi_u32(&w, GGUF_T_STRING); gi_u64(&w, 1ull << 20);
    CHECK(expect_error(w.b, w.n, "runs past the end"));
    /* Huge string length. */
    unsigned char pad[64] = {0};
    gi_header(&w, 3, 0, 1);
    gi_u64(&w, 1ull << 62);
    gi_bytes(&w, pad, sizeof pad);
    CHECK(expect_error(w.b, w.n, "exceeds the 1 GiB limit"));
    /* Unknown value type, nested array, huge array, bad bool. */
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "k"); gi_u32(&w, 99);
    gi_bytes(&w, pad, sizeof pad);
    CHECK(expect_error(w.b, w.n, "unknown value type 99"));
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "k"); gi_u32(&w, GGUF_T_ARRAY); gi_u32(&w, GGUF_T_ARRAY); gi_u64(&w, 1);
    CHECK(expect_error(w.b, w.n, "array element type 9 is not allowed"));
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "k"); gi_u32(&w, GGUF_T_ARRAY); gi_u32(&w, GGUF_T_U32); gi_u64(&w, 1ull << 29);
    CHECK(expect_error(w.b, w.n, "runs past the end"));
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "k"); gi_u32(&w, GGUF_T_BOOL); gi_bytes(&w, "\x05", 1);
    CHECK(expect_error(w.b, w.n, "BOOL value 5"));
    /* Alignment with the wrong type or not a power of two. */
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "general.alignment"); gi_u32(&w, GGUF_T_U64); gi_u64(&w, 32);
    CHECK(expect_error(w.b, w.n, "general.alignment has type UINT64"));
    gi_header(&w, 3, 0, 1);
    gi_str(&w, "general.alignment"); gi_u32(&w, GGUF_T_U32); gi_u32(&w, 24);
    CHECK(expect_error(w.b, w.n, "not a power of two"));
    /* Tensor records: bad dims, zero extent, unknown and removed types, bad offsets, past EOF. */
    struct { uint32_t nd; uint64_t ne0, ne1; uint32_t type; uint64_t off; const char *want; } bad[] = {
        {5, 32, 1, 0, 0, "5 dimensions"},
        {2, 32, 0, 0, 0, "dimension 1 is 0"},
        {2, 32, 1, 77, 0, "unknown type id 77"},
        {2, 32, 1, 5, 0, "was removed"},
        {2, 33, 1, 8, 0, "not a multiple of the Q8_0 block size"},
        {2, 32, 1, 0, 7, "not a multiple of the alignment"},
        {2, 32, 1, 0, 64, "expected 0"},
        {2, 32, 100, 0, 0, "runs past the end of the file"},
        {2, 1ull << 40, 1ull << 30, 0, 0, "overflows"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gi_header(&w, 3, 1, 0);
        gi_str(&w, "blk.0.attn_q.weight");
        gi_u32(&w, bad[i].nd);
        gi_u64(&w, bad[i].ne0);
        gi_u64(&w, bad[i].ne1);
        for (uint32_t d = 2; d < bad[i].nd; d++)
            gi_u64(&w, 1);
        gi_u32(&w, bad[i].type);
        gi_u64(&w, bad[i].off);
        while (w.n % 32)
            gi_bytes(&w, "", 1);
        unsigned char zero[256] = {0};
        gi_bytes(&w, zero, sizeof zero);
        CHECK_MSG(expect_error(w.b, w.n, bad[i].want), "case %zu", i);
    }
    /* Name too long and duplicate tensor names. */
    gi_header(&w, 3, 1, 0);
    gi_str(&w, "a-name-that-is-far-too-long-for-ggml-because-it-has-more-than-63-bytes");
    CHECK(expect_error(w.b, w.n, "name length"));
    gi_free(&w);
}

/* map_file with and without RELIEF_HUGEPAGES on a file large enough for
 * the huge-page copy (66 MiB + 5 bytes, sparse apart from markers): the
 * same bytes either way, the last partial page included, and munmap of the
 * reported size succeeds. */
static void test_map_hugepages(void)
{
    char path[] = "/tmp/relief_test_map_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    size_t size = ((size_t)66 << 20) + 5;
    const size_t marks[] = {0, 4095, 4096, (size_t)2 << 20, ((size_t)64 << 20) + 17, size - 1};
    int ok = ftruncate(fd, (off_t)size) == 0;
    for (size_t i = 0; ok && i < sizeof marks / sizeof marks[0]; i++) {
        unsigned char v = (unsigned char)(0x5a + i);
        ok = pwrite(fd, &v, 1, (off_t)marks[i]) == 1;
    }
    close(fd);
    CHECK(ok);
    const char *modes[] = {"0", "1"};
    for (int k = 0; ok && k < 2; k++) {
        setenv("RELIEF_HUGEPAGES", modes[k], 1);
        const void *map = NULL;
        size_t got = 0;
        char err[256];
        int rc = map_file(path, 8, "test", &map, &got, err, sizeof err);
        CHECK_MSG(rc == 0 && got == size, "RELIEF_HUGEPAGES=%s: %s", modes[k], rc ? err : "wrong size");
        if (rc != 0)
            continue;
        const unsigned char *b = map;
        int same = 1;
        for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
            same &= b[marks[i]] == (unsigned char)(0x5a + i);
        same &= b[1] == 0 && b[(size_t)40 << 20] == 0 && b[size - 2] == 0;
        CHECK_MSG(same, "RELIEF_HUGEPAGES=%s: bytes differ from the file", modes[k]);
        CHECK(munmap((void *)map, got) == 0);
    }
    unsetenv("RELIEF_HUGEPAGES");
    unlink(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_gguf FILE.gguf\n");
        return 2;
    }
    size_t len;
    unsigned char *data = load(argv[1], &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    test_map_hugepages();
    char err[512];
    unsigned char *copy;
    gguf_file *f = open_copy(data, len, err, sizeof err, &copy);
    CHECK_MSG(f != NULL, "%s", err);
    size_t header_end = f ? (size_t)f->data_offset : len;
    uint64_t nt = f ? f->n_tensors : 0;
    gguf_close(f);
    free(copy);

    /* Every truncation inside the header and records fails cleanly; a cut in
     * the data section names a tensor running past the end. */
    int truncated_ok = 0, total = 0;
    for (size_t cut = 0; cut < header_end; cut += (cut < 4096 ? 1 : 97)) {
        total++;
        f = open_copy(data, cut, err, sizeof err, &copy);
        truncated_ok += f == NULL && err[0];
        gguf_close(f);
        free(copy);
    }
    CHECK_MSG(truncated_ok == total, "%d of %d truncations rejected", truncated_ok, total);
    CHECK(expect_error(data, len - 1, "runs past the end of the file"));
    CHECK(expect_error(data, header_end + 100, "runs past the end of the file"));

    /* Flip every byte of the metadata and tensor records, one at a time,
     * to several values: any outcome but a crash is fine, and a failure
     * always comes with a message. */
    int opened = 0, rejected = 0;
    const unsigned char vals[] = {0x00, 0xff, 0x80, 0x01, 0x7f};
    for (size_t pos = 0; pos < header_end; pos += (pos < 2048 ? 1 : 13)) {
        for (size_t k = 0; k < sizeof vals; k++) {
            unsigned char save = data[pos];
            if (save == vals[k])
                continue;
            data[pos] = vals[k];
            err[0] = '\0';
            f = gguf_open_memory(data, len, err, sizeof err); /* data is exactly len bytes of heap */
            if (f) {
                opened++;
                /* Whatever was accepted must be self-consistent. */
                for (uint64_t i = 0; i < f->n_tensors; i++)
                    CHECK(f->tensors[i].data + f->tensors[i].nbytes <= f->map + f->size);
            } else {
                rejected++;
                CHECK(err[0] != '\0');
            }
            gguf_close(f);
            data[pos] = save;
        }
    }
    printf("corruptions: %d opened, %d rejected; %d truncations; %llu tensors\n", opened, rejected, total,
           (unsigned long long)nt);
    test_handmade();

    /* Reference conversions. */
    CHECK(q_fp16_to_f32(0x3c00) == 1.0f && q_fp16_to_f32(0xc000) == -2.0f && q_fp16_to_f32(0x0001) == 0x1p-24f);
    CHECK(q_bf16_to_f32(0x3f80) == 1.0f);
    unsigned char q8[34] = {0x00, 0x3c, 0xfe};
    float out[32];
    q_dequant_row(GGML_Q8_0, q8, out, 32);
    CHECK(out[0] == -2.0f && out[1] == 0.0f);
    unsigned char mx[17] = {0x7f, 0x2a};
    q_dequant_row(GGML_MXFP4, mx, out, 32);
    CHECK(out[0] == -1.0f && out[16] == 1.0f); /* gguf.md 9.3 example */
    q_dequant_row(GGML_MXFP4_OLLAMA, mx, out, 32);
    CHECK(out[0] == -1.0f && out[1] == 1.0f); /* checkpoint order: byte 0 holds elements 0 and 1 */
    free(data);
    return check_summary("test_gguf");
}
