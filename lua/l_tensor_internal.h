/* l_tensor_internal.h: argument helpers (defined in l_args.c) shared by the
 * two halves of the tensor binding (l_tensor.c: userdata, creation, RNG,
 * autograd; l_tensor_ops.c: op bindings and I/O) and the other bindings. Dims and indices arrive 1-based (negative
 * counts from the end) and leave 0-based; every helper raises a Lua error
 * naming `fn` on bad input. */
#ifndef L_TENSOR_INTERNAL_H
#define L_TENSOR_INTERNAL_H

#include <stdbool.h>
#include "l_common.h"

/* Push r (ownership taken) or raise the core's error; returns 1. */
int l_push1(lua_State *L, rp_tensor *r);
/* The integer at idx; `what` names it in the error. */
int64_t l_check_int(lua_State *L, int idx, const char *fn, const char *what);
/* Dim at idx -> 0-based in [0, ndim + extra). */
int l_check_dim(lua_State *L, int idx, int ndim, int extra, const char *fn);
/* Optional dim at idx (def when nil/none). */
int l_opt_dim(lua_State *L, int idx, int ndim, int def, const char *fn);
/* Index at idx into a dim of `size` -> 0-based. */
int64_t l_check_index(lua_State *L, int idx, int64_t size, const char *fn);
/* Shape from a table or varargs at idx (-1 allowed when allow_infer); *next
 * gets the first argument after it. Returns ndim. */
int l_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape, bool allow_infer, int *next);

/* T.tensor{...} (nested tables -> tensor, options as T.tensor). */
int l_tensor_literal(lua_State *L);

/* Registration of l_tensor_ops.c into the tables l_open_tensor builds (the
 * table is at stack index `methods` / `mt` / `functions`). */
void l_tensor_ops_methods(lua_State *L, int methods);
void l_tensor_ops_metamethods(lua_State *L, int mt);
void l_tensor_ops_functions(lua_State *L, int functions);

#endif
