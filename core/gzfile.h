/* gzfile.h: read a whole gzip (or plain) file into memory through zlib
 * (Debian zlib1g-dev), for the bundled data sets in data/. */
#ifndef RP_GZFILE_H
#define RP_GZFILE_H

#include <stddef.h>

/* *out = the decompressed bytes of path (a new malloc'd buffer, NUL-terminated,
 * caller frees), *len = their count. A file that is not gzip is read as is
 * (zlib's transparent mode). -1 + error naming the path on failure. */
int rp_read_gzip(char **out, size_t *len, const char *path);

#endif
