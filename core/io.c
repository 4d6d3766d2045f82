/* io.c: safetensors read/write with jansson (Debian: libjansson-dev).
 * The file is untrusted input: lengths, shapes, offsets and dtypes are all
 * checked against each other and the file size before anything is read. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
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

/* ---- file dtypes ---- */

typedef enum { SRC_F32, SRC_I32, SRC_U8, SRC_F16, SRC_BF16, SRC_F64, SRC_I64, SRC_F8_E4M3, SRC_F8_E5M2 } src_dtype;
static const struct { const char *name; size_t size; rp_dtype to; } src_types[] = {
    [SRC_F32] = {"F32", 4, RP_F32}, [SRC_I32] = {"I32", 4, RP_I32}, [SRC_U8] = {"U8", 1, RP_U8},
    [SRC_F16] = {"F16", 2, RP_F32}, [SRC_BF16] = {"BF16", 2, RP_F32}, [SRC_F64] = {"F64", 8, RP_F32},
    [SRC_I64] = {"I64", 8, RP_I32}, [SRC_F8_E4M3] = {"F8_E4M3", 1, RP_U8}, [SRC_F8_E5M2] = {"F8_E5M2", 1, RP_U8},
};
#define N_SRC_TYPES (sizeof src_types / sizeof src_types[0])
static_assert(N_SRC_TYPES == RP_ST_NDTYPES, "one src_types entry per rp_st_dtype");
static_assert((int)SRC_F8_E5M2 == (int)RP_ST_F8_E5M2 && (int)SRC_BF16 == (int)RP_ST_BF16,
              "src_dtype and rp_st_dtype agree");

const char *rp_st_dtype_name(rp_st_dtype d)
{
    return (unsigned)d < N_SRC_TYPES ? src_types[d].name : "?";
}

int rp_st_dtype_from_name(const char *s)
{
    for (size_t i = 0; s && i < N_SRC_TYPES; i++)
        if (strcmp(s, src_types[i].name) == 0) return (int)i;
    return -1;
}

/* f32 -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
static uint16_t float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* f32 -> IEEE half bits, round to nearest even (subnormals included);
 * overflow gives inf, NaN a quiet NaN. */
static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u;
    if (ax >= 0x477ff000u) return sign | 0x7c00u;          /* >= 65520: rounds to inf */
    if (ax < 0x38800000u) {                                 /* < 2^-14: subnormal or zero */
        float a;
        memcpy(&a, &ax, 4);
        return sign | (uint16_t)nearbyintf(a * 0x1p24f); /* exact scaling, then RNE (1024 = min normal) */
    }
    uint32_t h = ((ax >> 23) - 127 + 15) << 10 | (ax & 0x7fffffu) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;   /* a carry moves into the exponent */
    return sign | (uint16_t)h;
}

/* May tensor t be stored as file dtype d? */
static bool storable(const rp_tensor *t, rp_st_dtype d)
{
    switch (t->dtype) {
    case RP_F32: return d == RP_ST_F32 || d == RP_ST_F16 || d == RP_ST_BF16;
    case RP_I32: return d == RP_ST_I32;
    case RP_U8: return d == RP_ST_U8 || d == RP_ST_F8_E4M3 || d == RP_ST_F8_E5M2;
    default: return false;
    }
}

static rp_st_dtype natural_st(const rp_tensor *t)
{
    return t->dtype == RP_F32 ? RP_ST_F32 : t->dtype == RP_I32 ? RP_ST_I32 : RP_ST_U8;
}

/* Write the contiguous tensor c as file dtype d. */
static bool write_as(FILE *f, const rp_tensor *c, rp_st_dtype d)
{
    int64_t n = rp_numel(c);
    if (d != RP_ST_F16 && d != RP_ST_BF16) {
        size_t nb = (size_t)n * rp_dtype_info[c->dtype].size;
        return fwrite(rp_data(c), 1, nb, f) == nb;
    }
    unsigned char buf[4096];
    const float *x = RP_F32P(c);
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof buf && i < n; k += 2, i++) {
            uint16_t h = d == RP_ST_F16 ? float_to_half(x[i]) : float_to_bf16(x[i]);
            buf[k] = (unsigned char)(h & 0xff);
            buf[k + 1] = (unsigned char)(h >> 8);
        }
        if (fwrite(buf, 1, k, f) != k) return false;
    }
    return true;
}

int rp_save_safetensors(const char *path, int n, const char *const *names,
                        const rp_tensor *const *tensors, int nmeta,
                        const char *const *meta_keys, const char *const *meta_vals)
{
    return rp_save_safetensors_as(path, n, names, tensors, NULL, nmeta, meta_keys, meta_vals);
}

int rp_save_safetensors_as(const char *path, int n, const char *const *names,
                           const rp_tensor *const *tensors, const rp_st_dtype *as, int nmeta,
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
        if (!m || json_object_set_new(root, "__metadata__", m)) { rp_seterr("save: metadata keys and values must be UTF-8 strings"); goto out; }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const rp_tensor *t = tensors[i];
        if (strcmp(names[i], "__metadata__") == 0) { rp_seterr("save: '__metadata__' is reserved"); goto out; }
        if (json_object_get(root, names[i])) { rp_seterr("save: duplicate name '%s'", names[i]); goto out; }
        rp_st_dtype sd = as ? as[i] : natural_st(t);
        if ((unsigned)sd >= N_SRC_TYPES || !storable(t, sd)) {
            rp_seterr("save: '%s' is %s and cannot be stored as %s (f32: F32 F16 BF16; u8: U8 F8_E4M3 F8_E5M2; i32: I32)",
                      names[i], rp_dtype_info[t->dtype].name, rp_st_dtype_name(sd));
            goto out;
        }
        uint64_t nb = (uint64_t)rp_numel(t) * src_types[sd].size;
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", src_types[sd].name,
                              "shape", shape_json(t), "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
        if (!e || json_object_set_new(root, names[i], e)) { rp_seterr("save: cannot encode '%s' (not UTF-8?)", names[i]); goto out; }
        off += nb;
    }
    hdr = json_dumps(root, JSON_COMPACT);
    if (!hdr) { rp_seterr("save: cannot encode the header"); goto out; }
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    f = fopen(path, "wb");
    if (!f) { rp_seterr("save: cannot open '%s' for writing: %s", path, strerror(errno)); goto out; }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        rp_tensor *c = rp_copy_contiguous(tensors[i]);
        if (!c) { fclose(f); f = NULL; goto out; }
        ok = write_as(f, c, as ? as[i] : natural_st(c));
        rp_tensor_release(c);
    }
    int err = ok ? 0 : errno;
    if (fflush(f) != 0 || ferror(f)) { ok = false; if (!err) err = errno; }
    if (fclose(f) != 0) { ok = false; if (!err) err = errno; }
    f = NULL;
    if (!ok) { rp_seterr("save: cannot write '%s': %s", path, err ? strerror(err) : "write error"); goto out; }
    rc = 0;
out:
    if (f) fclose(f);
    free(hdr);
    json_decref(root);
    return rc;
}

/* ---- load ---- */


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
    free(s->names); free(s->tensors); free(s->meta_keys); free(s->meta_vals); free(s->dtypes);
    free(s);
}

/* Where the bytes come from: an open file or a memory buffer. Every read is
 * bounds-checked against the size measured before parsing began. */
typedef struct {
    FILE *f;
    const unsigned char *mem;
    uint64_t size;
    const char *name; /* for messages */
} source;

static int src_read(const source *s, uint64_t pos, void *buf, uint64_t n)
{
    if (pos > s->size || n > s->size - pos) return -1;
    if (n == 0) return 0;
    if (s->mem) { memcpy(buf, s->mem + pos, (size_t)n); return 0; }
    if (pos > (uint64_t)INT64_MAX || fseeko(s->f, (off_t)pos, SEEK_SET) != 0) return -1;
    return fread(buf, 1, (size_t)n, s->f) == n ? 0 : -1;
}

/* One validated header entry: everything needed to read it later. */
typedef struct {
    const char *name; /* borrowed from the JSON tree */
    src_dtype sd;
    int nd;
    int64_t shape[RP_MAXDIM];
    uint64_t b, e; /* byte range in the data section */
} entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->b != y->b) return (x->b > y->b) - (x->b < y->b);
    return (x->e > y->e) - (x->e < y->e);
}

/* Entry names come from the file: long ones are cut in messages. */
#define NM "'%.80s'"

/* Read one validated entry's bytes into a new tensor, converting the dtype. */
static rp_tensor *read_entry(const source *src, uint64_t base, const entry *en)
{
    uint64_t nbytes = en->e - en->b;
    rp_tensor *t = rp_empty(src_types[en->sd].to, en->nd, en->shape);
    if (!t) return NULL;
    bool direct = en->sd <= SRC_U8 || en->sd == SRC_F8_E4M3 || en->sd == SRC_F8_E5M2;
    unsigned char *buf = direct ? rp_data(t) : malloc(nbytes ? (size_t)nbytes : 1);
    if (!buf) { rp_tensor_release(t); rp_seterr("load: out of memory reading " NM " from '%s'", en->name, src->name); return NULL; }
    if (src_read(src, base + en->b, buf, nbytes) != 0) {
        if (!direct) free(buf);
        rp_tensor_release(t);
        rp_seterr("load: '%s': entry " NM ": short read of %llu bytes", src->name, en->name,
                  (unsigned long long)nbytes);
        return NULL;
    }
    if (direct) return t;
    bool ok = true;
    int64_t n = rp_numel(t);
    size_t es = src_types[en->sd].size;
    for (int64_t i = 0; i < n && ok; i++) {
        const unsigned char *p = buf + (size_t)i * es;
        if (en->sd == SRC_F16) RP_F32P(t)[i] = half_to_float((uint16_t)rd_le(p, 2));
        else if (en->sd == SRC_BF16) { uint32_t w = (uint32_t)rd_le(p, 2) << 16; memcpy(&RP_F32P(t)[i], &w, 4); }
        else if (en->sd == SRC_F64) {
            uint64_t w = rd_le(p, 8);
            double d;
            memcpy(&d, &w, 8);
            /* out-of-range doubles become +-inf: converting them directly is UB */
            RP_F32P(t)[i] = isnan(d) ? (float)d : d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d;
        } else {
            int64_t v = (int64_t)rd_le(p, 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                rp_seterr("load: '%s': entry " NM ": I64 value %lld at element %lld does not fit i32",
                          src->name, en->name, (long long)v, (long long)i);
                ok = false;
            } else {
                RP_I32P(t)[i] = (int32_t)v;
            }
        }
    }
    free(buf);
    if (!ok) { rp_tensor_release(t); return NULL; }
    return t;
}

/* Validate one tensor entry of the header into *en (no data is read). */
static int check_entry(const source *src, const char *key, json_t *val, uint64_t data_size, entry *en)
{
    const char *path = src->name;
    if (!json_is_object(val))
        return rp_seterr("load: '%s': entry " NM " is a JSON %s, not an object", path, key,
                         json_is_array(val) ? "array" : json_is_string(val) ? "string" : "scalar");
    json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
           *jo = json_object_get(val, "data_offsets");
    if (!json_is_string(jd)) return rp_seterr("load: '%s': entry " NM ": 'dtype' is missing or not a string", path, key);
    if (!json_is_array(js)) return rp_seterr("load: '%s': entry " NM ": 'shape' is missing or not an array", path, key);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return rp_seterr("load: '%s': entry " NM ": 'data_offsets' must be [begin, end] integers", path, key);
    int sd = -1;
    const char *dt = json_string_value(jd);
    for (size_t i = 0; i < N_SRC_TYPES; i++)
        if (strcmp(dt, src_types[i].name) == 0) sd = (int)i;
    if (sd < 0)
        return rp_seterr("load: '%s': entry " NM ": unknown or unsupported dtype '%.20s' "
                         "(supported: F32 I32 U8 F16 BF16 F64 I64 F8_E4M3 F8_E5M2)", path, key, dt);
    size_t nd = json_array_size(js);
    if (nd > RP_MAXDIM)
        return rp_seterr("load: '%s': entry " NM ": %zu dimensions (at most %d)", path, key, nd, RP_MAXDIM);
    for (size_t d = 0; d < nd; d++) {
        json_t *x = json_array_get(js, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return rp_seterr("load: '%s': entry " NM ": shape[%zu] is not a non-negative integer", path, key, d + 1);
        en->shape[d] = json_integer_value(x);
    }
    int64_t numel = rp_contiguous_strides((int)nd, en->shape, NULL);
    if (numel < 0 || (uint64_t)numel > data_size / src_types[sd].size)
        return rp_seterr("load: '%s': entry " NM ": shape needs more bytes than the file's %llu data bytes "
                         "(or its element count overflows)", path, key, (unsigned long long)data_size);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b || (uint64_t)e > data_size)
        return rp_seterr("load: '%s': entry " NM ": data_offsets [%lld, %lld] out of range (data section is %llu bytes)",
                         path, key, (long long)b, (long long)e, (unsigned long long)data_size);
    uint64_t want = (uint64_t)numel * src_types[sd].size;
    if ((uint64_t)(e - b) != want)
        return rp_seterr("load: '%s': entry " NM ": data_offsets [%lld, %lld] hold %llu bytes, but %lld %s elements need %llu",
                         path, key, (long long)b, (long long)e, (unsigned long long)(e - b), (long long)numel,
                         src_types[sd].name, (unsigned long long)want);
    en->name = key;
    en->sd = (src_dtype)sd;
    en->nd = (int)nd;
    en->b = (uint64_t)b;
    en->e = (uint64_t)e;
    return 0;
}

static int read_metadata(const source *src, json_t *val, rp_safetensors *s)
{
    if (!json_is_object(val)) return rp_seterr("load: '%s': __metadata__ is not an object", src->name);
    size_t nm = json_object_size(val);
    s->meta_keys = calloc(nm + 1, sizeof *s->meta_keys);
    s->meta_vals = calloc(nm + 1, sizeof *s->meta_vals);
    if (!s->meta_keys || !s->meta_vals) return rp_seterr("load: out of memory");
    const char *mk;
    json_t *mv;
    json_object_foreach(val, mk, mv) {
        if (!json_is_string(mv)) return rp_seterr("load: '%s': metadata " NM " is not a string", src->name, mk);
        s->meta_keys[s->nmeta] = strdup(mk);
        s->meta_vals[s->nmeta] = strdup(json_string_value(mv));
        s->nmeta++;
        if (!s->meta_keys[s->nmeta - 1] || !s->meta_vals[s->nmeta - 1]) return rp_seterr("load: out of memory");
    }
    return 0;
}

/* Parse from src. The header is validated whole (every entry, then the
 * tiling of the data section) before any tensor is allocated, and every
 * allocation is bounded by the measured size of the source. */
static rp_safetensors *parse(const source *src)
{
    const char *path = src->name;
    rp_safetensors *s = calloc(1, sizeof *s);
    json_t *root = NULL;
    char *hdr_buf = NULL;
    entry *ents = NULL;
    if (!s) { rp_seterr("load: out of memory"); goto fail; }
    unsigned char len8[8];
    if (src->size < 8 || src_read(src, 0, len8, 8) != 0) {
        rp_seterr("load: '%s' is too short to be safetensors (%llu bytes)", path, (unsigned long long)src->size);
        goto fail;
    }
    uint64_t hl = rd_le(len8, 8);
    if (hl > MAX_HEADER || hl > src->size - 8) {
        rp_seterr("load: '%s': header length %llu exceeds the file (%llu bytes) or the 100 MB limit",
                  path, (unsigned long long)hl, (unsigned long long)src->size);
        goto fail;
    }
    const char *hdr;
    if (src->mem) {
        hdr = (const char *)src->mem + 8;
    } else {
        hdr_buf = malloc(hl ? (size_t)hl : 1);
        if (!hdr_buf || src_read(src, 8, hdr_buf, hl) != 0) { rp_seterr("load: cannot read the header of '%s'", path); goto fail; }
        hdr = hdr_buf;
    }
    json_error_t jerr;
    root = json_loadb(hdr, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rp_seterr("load: '%s': bad JSON header at byte %d: %s", path, jerr.position, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) { rp_seterr("load: '%s': the JSON header is not an object", path); goto fail; }
    uint64_t data_size = src->size - 8 - hl;
    size_t nkeys = json_object_size(root);
    ents = calloc(nkeys + 1, sizeof *ents);
    if (!ents) { rp_seterr("load: out of memory"); goto fail; }
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (read_metadata(src, val, s)) goto fail;
            continue;
        }
        if (check_entry(src, key, val, data_size, &ents[n])) goto fail;
        n++;
    }
    /* the entries must tile the data section exactly: no overlap, no hole,
     * nothing after the last tensor (the format's own rule) */
    qsort(ents, n, sizeof *ents, cmp_entry);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (ents[i].b < at) {
            rp_seterr("load: '%s': entry " NM " (bytes %llu..%llu) overlaps the previous tensor (ending at %llu)",
                      path, ents[i].name, (unsigned long long)ents[i].b, (unsigned long long)ents[i].e,
                      (unsigned long long)at);
            goto fail;
        }
        if (ents[i].b > at) {
            rp_seterr("load: '%s': bytes %llu..%llu of the data section belong to no tensor (before entry " NM ")",
                      path, (unsigned long long)at, (unsigned long long)ents[i].b, ents[i].name);
            goto fail;
        }
        at = ents[i].e;
    }
    if (at != data_size) {
        rp_seterr("load: '%s': %llu bytes of trailing garbage after the last tensor", path,
                  (unsigned long long)(data_size - at));
        goto fail;
    }
    s->names = calloc(n + 1, sizeof *s->names);
    s->tensors = calloc(n + 1, sizeof *s->tensors);
    s->dtypes = calloc(n + 1, sizeof *s->dtypes);
    if (!s->names || !s->tensors || !s->dtypes) { rp_seterr("load: out of memory"); goto fail; }
    for (size_t i = 0; i < n; i++) {
        rp_tensor *t = read_entry(src, 8 + hl, &ents[i]);
        if (!t) goto fail;
        s->names[s->n] = strdup(ents[i].name);
        s->dtypes[s->n] = (rp_st_dtype)ents[i].sd;
        s->tensors[s->n++] = t;
        if (!s->names[s->n - 1]) { rp_seterr("load: out of memory"); goto fail; }
    }
    free(ents);
    free(hdr_buf);
    json_decref(root);
    return s;
fail:
    free(ents);
    free(hdr_buf);
    json_decref(root);
    rp_safetensors_free(s);
    return NULL;
}

rp_safetensors *rp_parse_safetensors(const void *buf, size_t len, const char *name)
{
    if (!buf && len) { rp_seterr("load: NULL buffer"); return NULL; }
    source src = {.f = NULL, .mem = buf ? buf : (const unsigned char *)"", .size = len, .name = name ? name : "<memory>"};
    return parse(&src);
}

rp_safetensors *rp_load_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { rp_seterr("load: cannot open '%s': %s", path, strerror(errno)); return NULL; }
    off_t end = -1;
    if (fseeko(f, 0, SEEK_END) == 0) end = ftello(f);
    if (end < 0) { fclose(f); rp_seterr("load: cannot seek in '%s' (not a regular file?)", path); return NULL; }
    rewind(f);
    source src = {.f = f, .mem = NULL, .size = (uint64_t)end, .name = path};
    rp_safetensors *s = parse(&src);
    fclose(f);
    return s;
}
