/* l_sys.h: what l_sys.c (repro.core.sys, part of the module) gives the
 * executable's banner. The module does not include anything of the
 * executable's (repl.h): the shared module repro/core.so has no REPL. */
#ifndef L_SYS_H
#define L_SYS_H

#include <stddef.h>

/* Write "OpenBLAS <version> <config> (N threads, <threading model>)" into buf. */
void l_blas_info(char *buf, size_t n);

#endif
