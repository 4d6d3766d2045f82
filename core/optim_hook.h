/* optim_hook.h: where a data-parallel job may take over the preconditioner
 * refresh of SOAP and Shampoo (core/dist.c sets it; core/optim_soap.c calls
 * it). Kept apart from optim.h so the optimizer files change by a few lines.
 *
 * Unset (the default, and always on one process): the optimizer calls
 * fn(st, arg) itself. Set: the optimizer calls the hook instead, which must
 * leave st's buffers whose names start with `prefix` (one per preconditioned
 * dimension: "Q0", "Q1" ...) and the nextra floats at extra (may be NULL)
 * exactly as fn(st, arg) would have, on every rank. */
#ifndef RP_OPTIM_HOOK_H
#define RP_OPTIM_HOOK_H

#include <stdint.h>

struct rp_optim_state;
typedef int (*rp_optim_refresh_fn)(struct rp_optim_state *st, void *arg);
extern int (*rp_optim_refresh_hook)(struct rp_optim_state *st, rp_optim_refresh_fn fn, void *arg, const char *prefix,
                                    float *extra, int64_t nextra);

#endif
