/* gzfile.c: whole-file gzip reading through zlib (gzfile.h). */
#include "gzfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "error.h"

/* Larger than any bundled file by far; guards against a decompression bomb. */
#define MAX_BYTES ((size_t)1 << 31)

int rp_read_gzip(char **out, size_t *len, const char *path)
{
    *out = NULL;
    *len = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return rp_seterr("read_gz: cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { gzclose(f); return rp_seterr("read_gz: out of memory"); }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_BYTES) {
                free(buf); gzclose(f);
                return rp_seterr("read_gz: '%s' decompresses to more than %zu bytes", path, MAX_BYTES);
            }
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); gzclose(f); return rp_seterr("read_gz: out of memory"); }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n;
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(f, buf + n, (unsigned)want);
        if (got < 0) {
            int e;
            const char *msg = gzerror(f, &e);
            rp_seterr("read_gz: '%s': %s", path, msg ? msg : "read error");
            free(buf); gzclose(f);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* a truncated gzip stream reads short without an error until close */
    int rc = gzclose(f);
    if (rc != Z_OK) {
        free(buf);
        return rp_seterr("read_gz: '%s' is truncated or corrupt (zlib error %d)", path, rc);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}
