/* io.c: safetensors read/write with jansson (Debian: libjansson-dev).
 * The file is untrusted input: lengths, shapes, offsets and dtypes are all
 * checked against each other and the file size before anything is read. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

/* ---- save ---- */

static json_t *shape_json(const rp_tensor *t)
{
    json_t *a = json_array();
    for (int d = 0; a && d < t->ndim; d++) json_array_append_new(a, json_integer(t->shape[d]));
    return a;
}

int rp_save_safetensors(const char *path, int n, const char *const *names,
                        const rp_tensor *const *tensors, int nmeta,
                        const char *const *meta_keys, const char *const *meta_vals)
{
    json_t *root = json_object();
    if (!root) return rp_seterr("save: out of memory");
    int rc = -1;
    char *hdr = NULL;
    FILE *f = NULL;
    if (nmeta > 0) {
        json_t *m = json_object();
        for (int i = 0; m && i < nmeta; i++)
            if (json_object_set_new(m, meta_keys[i], json_string(meta_vals[i]))) { json_decref(m); m = NULL; }
        if (!m || json_object_set_new(root, "__metadata__", m)) { rp_seterr("save: bad metadata"); goto out; }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const rp_tensor *t = tensors[i];
        if (strcmp(names[i], "__metadata__") == 0) { rp_seterr("save: '__metadata__' is reserved"); goto out; }
        if (json_object_get(root, names[i])) { rp_seterr("save: duplicate name '%s'", names[i]); goto out; }
        uint64_t nb = (uint64_t)rp_numel(t) * rp_dtype_info[t->dtype].size;
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", rp_dtype_info[t->dtype].safetensors_name,
                              "shape", shape_json(t), "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
        if (!e || json_object_set_new(root, names[i], e)) { rp_seterr("save: cannot encode '%s' (not UTF-8?)", names[i]); goto out; }
        off += nb;
    }
    hdr = json_dumps(root, JSON_COMPACT);
    if (!hdr) { rp_seterr("save: cannot encode the header"); goto out; }
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    f = fopen(path, "wb");
    if (!f) { rp_seterr("save: cannot open '%s' for writing", path); goto out; }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        rp_tensor *c = rp_copy_contiguous(tensors[i]);
        if (!c) { fclose(f); f = NULL; goto out; }
        size_t nb = (size_t)rp_numel(c) * rp_dtype_info[c->dtype].size;
        ok = fwrite(rp_data(c), 1, nb, f) == nb;
        rp_tensor_release(c);
    }
    if (fclose(f) != 0) ok = false;
    f = NULL;
    if (!ok) { rp_seterr("save: write error on '%s'", path); goto out; }
    rc = 0;
out:
    if (f) fclose(f);
    free(hdr);
    json_decref(root);
    return rc;
}

/* ---- load ---- */

typedef enum { SRC_F32, SRC_I32, SRC_U8, SRC_F16, SRC_BF16, SRC_F64, SRC_I64 } src_dtype;
static const struct { const char *name; size_t size; rp_dtype to; } src_types[] = {
    [SRC_F32] = {"F32", 4, RP_F32}, [SRC_I32] = {"I32", 4, RP_I32}, [SRC_U8] = {"U8", 1, RP_U8},
    [SRC_F16] = {"F16", 2, RP_F32}, [SRC_BF16] = {"BF16", 2, RP_F32}, [SRC_F64] = {"F64", 8, RP_F32},
    [SRC_I64] = {"I64", 8, RP_I32},
};

static float half_to_float(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                     : ldexpf((float)(m | 1024), e - 25);
    return s ? -v : v;
}

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void rp_safetensors_free(rp_safetensors *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++) { free(s->names[i]); rp_tensor_release(s->tensors[i]); }
    for (int i = 0; i < s->nmeta; i++) { free(s->meta_keys[i]); free(s->meta_vals[i]); }
    free(s->names); free(s->tensors); free(s->meta_keys); free(s->meta_vals);
    free(s);
}

typedef struct { uint64_t b, e; } range;
static int cmp_range(const void *a, const void *b)
{
    uint64_t x = ((const range *)a)->b, y = ((const range *)b)->b;
    return (x > y) - (x < y);
}

/* Read one entry's bytes into a new tensor, converting the dtype if needed. */
static rp_tensor *read_entry(FILE *f, const char *path, const char *name, src_dtype sd, int nd,
                             const int64_t *shape, uint64_t pos, uint64_t nbytes)
{
    rp_tensor *t = rp_empty(src_types[sd].to, nd, shape);
    if (!t) return NULL;
    unsigned char *buf = sd <= SRC_U8 ? rp_data(t) : malloc(nbytes ? nbytes : 1);
    if (!buf) { rp_tensor_release(t); rp_seterr("load: out of memory"); return NULL; }
    bool ok = fseeko(f, (off_t)pos, SEEK_SET) == 0 && fread(buf, 1, nbytes, f) == nbytes;
    if (ok && sd > SRC_U8) {
        int64_t n = rp_numel(t);
        for (int64_t i = 0; i < n && ok; i++) {
            const unsigned char *p = buf + i * (int64_t)src_types[sd].size;
            if (sd == SRC_F16) RP_F32P(t)[i] = half_to_float((uint16_t)rd_le(p, 2));
            else if (sd == SRC_BF16) { uint32_t w = (uint32_t)rd_le(p, 2) << 16; memcpy(&RP_F32P(t)[i], &w, 4); }
            else if (sd == SRC_F64) { uint64_t w = rd_le(p, 8); double d; memcpy(&d, &w, 8); RP_F32P(t)[i] = (float)d; }
            else {
                int64_t v = (int64_t)rd_le(p, 8);
                if (v < INT32_MIN || v > INT32_MAX) {
                    rp_seterr("load: '%s' in %s: I64 value %lld does not fit i32", name, path, (long long)v);
                    ok = false;
                }
                RP_I32P(t)[i] = (int32_t)v;
            }
        }
        free(buf);
        if (!ok) { rp_tensor_release(t); return NULL; }
    } else if (sd > SRC_U8) {
        free(buf);
    }
    if (!ok) { rp_tensor_release(t); rp_seterr("load: '%s': short read of '%s'", path, name); return NULL; }
    return t;
}

rp_safetensors *rp_load_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { rp_seterr("load: cannot open '%s'", path); return NULL; }
    rp_safetensors *s = calloc(1, sizeof *s);
    json_t *root = NULL;
    char *hdr = NULL;
    range *ranges = NULL;
    if (!s) { rp_seterr("load: out of memory"); goto fail; }
    unsigned char len8[8];
    if (fseeko(f, 0, SEEK_END) != 0) { rp_seterr("load: cannot seek in '%s'", path); goto fail; }
    uint64_t fsize = (uint64_t)ftello(f);
    rewind(f);
    if (fsize < 8 || fread(len8, 1, 8, f) != 8) { rp_seterr("load: '%s' is too short to be safetensors", path); goto fail; }
    uint64_t hl = rd_le(len8, 8);
    if (hl > MAX_HEADER || hl > fsize - 8) {
        rp_seterr("load: '%s': header length %llu exceeds the file (%llu bytes) or the 100 MB limit",
                  path, (unsigned long long)hl, (unsigned long long)fsize);
        goto fail;
    }
    hdr = malloc(hl ? hl : 1);
    if (!hdr || fread(hdr, 1, hl, f) != hl) { rp_seterr("load: cannot read the header of '%s'", path); goto fail; }
    json_error_t jerr;
    root = json_loadb(hdr, hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        rp_seterr("load: '%s': bad JSON header (%s)", path, root ? "not an object" : jerr.text);
        goto fail;
    }
    uint64_t data_size = fsize - 8 - hl;
    size_t nkeys = json_object_size(root);
    s->names = calloc(nkeys + 1, sizeof *s->names);
    s->tensors = calloc(nkeys + 1, sizeof *s->tensors);
    s->meta_keys = calloc(nkeys + 1, sizeof *s->meta_keys);
    s->meta_vals = calloc(nkeys + 1, sizeof *s->meta_vals);
    ranges = calloc(nkeys + 1, sizeof *ranges);
    if (!s->names || !s->tensors || !s->meta_keys || !s->meta_vals || !ranges) { rp_seterr("load: out of memory"); goto fail; }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) { rp_seterr("load: '%s': __metadata__ is not an object", path); goto fail; }
            if (json_object_size(val) > nkeys) { /* grow the metadata arrays */
                char **k2 = realloc(s->meta_keys, (json_object_size(val) + 1) * sizeof *k2);
                if (!k2) { rp_seterr("load: out of memory"); goto fail; }
                s->meta_keys = k2;
                char **v2 = realloc(s->meta_vals, (json_object_size(val) + 1) * sizeof *v2);
                if (!v2) { rp_seterr("load: out of memory"); goto fail; }
                s->meta_vals = v2;
            }
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) { rp_seterr("load: '%s': metadata '%s' is not a string", path, mk); goto fail; }
                s->meta_keys[s->nmeta] = strdup(mk);
                s->meta_vals[s->nmeta] = strdup(json_string_value(mv));
                if (!s->meta_keys[s->nmeta] || !s->meta_vals[s->nmeta]) { s->nmeta++; rp_seterr("load: out of memory"); goto fail; }
                s->nmeta++;
            }
            continue;
        }
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
               *jo = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
            json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
            !json_is_integer(json_array_get(jo, 1))) {
            rp_seterr("load: '%s': entry '%s' needs dtype, shape and data_offsets [begin, end]", path, key);
            goto fail;
        }
        int sd = -1;
        for (size_t i = 0; i < sizeof src_types / sizeof src_types[0]; i++)
            if (strcmp(json_string_value(jd), src_types[i].name) == 0) sd = (int)i;
        if (sd < 0) { rp_seterr("load: '%s': entry '%s' has unsupported dtype %s", path, key, json_string_value(jd)); goto fail; }
        size_t nd = json_array_size(js);
        if (nd > RP_MAXDIM) { rp_seterr("load: '%s': entry '%s' has %zu dimensions (at most %d)", path, key, nd, RP_MAXDIM); goto fail; }
        int64_t shape[RP_MAXDIM];
        for (size_t d = 0; d < nd; d++) {
            json_t *x = json_array_get(js, d);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                rp_seterr("load: '%s': entry '%s' has a bad size in dimension %zu", path, key, d + 1);
                goto fail;
            }
            shape[d] = json_integer_value(x);
        }
        int64_t numel = rp_contiguous_strides((int)nd, shape, NULL);
        json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
        if (numel < 0 || (uint64_t)numel > UINT64_MAX / 8 || b < 0 || e < b || (uint64_t)e > data_size ||
            (uint64_t)(e - b) != (uint64_t)numel * src_types[sd].size) {
            rp_seterr("load: '%s': entry '%s' has data_offsets [%lld, %lld] that do not match its shape "
                      "and dtype (%lld elements of %s) or the %llu data bytes", path, key, (long long)b,
                      (long long)e, (long long)numel, src_types[sd].name, (unsigned long long)data_size);
            goto fail;
        }
        ranges[s->n].b = (uint64_t)b;
        ranges[s->n].e = (uint64_t)e;
        s->names[s->n] = strdup(key);
        if (!s->names[s->n]) { rp_seterr("load: out of memory"); goto fail; }
        s->tensors[s->n] = read_entry(f, path, key, (src_dtype)sd, (int)nd, shape, 8 + hl + (uint64_t)b, (uint64_t)(e - b));
        s->n++;
        if (!s->tensors[s->n - 1]) goto fail;
    }
    qsort(ranges, (size_t)s->n, sizeof *ranges, cmp_range);
    for (int i = 1; i < s->n; i++)
        if (ranges[i].b < ranges[i - 1].e) { rp_seterr("load: '%s': tensor data overlap", path); goto fail; }
    free(ranges);
    free(hdr);
    json_decref(root);
    fclose(f);
    return s;
fail:
    free(ranges);
    free(hdr);
    json_decref(root);
    fclose(f);
    rp_safetensors_free(s);
    return NULL;
}
