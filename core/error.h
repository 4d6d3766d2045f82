/* error.h: the error channel of the core. Every module that can fail reports
 * through it; nothing else is needed to include it (the crystal modules use
 * errors but no tensors).
 *
 * Conventions for the whole core:
 *  - Functions that create an object return a NEW reference or NULL on error,
 *    with the reason in rp_errmsg().
 *  - Functions that return int return 0 on success and -1 on error.
 *  - The core never exits, aborts or longjmps.
 */
#ifndef RP_ERROR_H
#define RP_ERROR_H

/* Set the thread's error message (printf format); always returns -1. */
int rp_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error message of this thread (never NULL). */
const char *rp_errmsg(void);

#endif
