/* l_common.h: what every binding file shares: the tensor userdata, error
 * raising from core status, option-table checking. Bindings are thin: check
 * arguments, call the core, wrap results (DESIGN.md). */
#ifndef L_COMMON_H
#define L_COMMON_H

#include <lua.h>
#include <lauxlib.h>
#include "tensor.h"

#define L_TENSOR_MT "repro.Tensor"

/* The tensor at idx; raises "FN: bad argument #idx (tensor expected, got X)"
 * or "tensor used after close" errors. */
rp_tensor *l_checktensor(lua_State *L, int idx);
/* The tensor at idx or NULL if the value is not a tensor (no error). */
rp_tensor *l_totensor(lua_State *L, int idx);
/* Push t as a new userdata; takes ownership of the reference. If t is NULL,
 * raises the core's error message prefixed by nothing (core messages already
 * name the op). */
void l_pushtensor(lua_State *L, rp_tensor *t);
/* Raise the core error (after the caller freed its temporaries). This and
 * the two checkers below are defined in l_args.c. */
int l_corerror(lua_State *L);
/* Read an integer shape from varargs starting at idx or from a table at idx.
 * Returns ndim; raises a Lua error naming `fn` on bad input. */
int l_checkshape(lua_State *L, int idx, const char *fn, int64_t *shape);
/* Raise an error if the table at idx has a key not in `valid` (NULL-ended). */
void l_checkoptions(lua_State *L, int idx, const char *fn, const char *const *valid);

/* The Generator userdata (an rp_generator, created by l_tensor.c). */
#define L_GEN_MT "repro.Generator"
/* The Generator at idx, or NULL if the value is not one (no error). */
#define l_togenerator(L, idx) ((rp_generator *)luaL_testudata((L), (idx), L_GEN_MT))

/* Add methods to the tensor metatable's method table (shared by every
 * binding file that adds tensor methods; the table lives in the registry
 * under L_TENSOR_METHODS and __index consults it). */
#define L_TENSOR_METHODS "repro.Tensor.methods"
void l_add_methods(lua_State *L, const luaL_Reg *methods);

/* Module openers, one per binding file; l_core.c assembles them into
 * repro.core in this order (tensor first: it creates the metatable). Each
 * pushes one table: its field of repro.core. */
int luaopen_repro_core(lua_State *L);
int l_open_tensor(lua_State *L);   /* repro.core.tensor: tensor API (l_tensor.c) */
int l_open_nnops(lua_State *L);    /* repro.core.nnops: matmul, softmax, attention ... (l_nnops.c) */
int l_open_fp8(lua_State *L);      /* repro.core.fp8 (l_fp8.c) */
int l_open_linalg(lua_State *L);   /* repro.core.linalg (l_linalg.c) */
int l_open_optim(lua_State *L);    /* repro.core.optim (l_optim.c) */
int l_open_sys(lua_State *L);      /* repro.core.sys: threads, version, BLAS info (l_sys.c) */
int l_open_signal(lua_State *L);   /* repro.core.signal: SIGINT/SIGTERM flags for clean stops (l_signal.c) */
int l_open_io(lua_State *L);       /* repro.core.io: checksums, atomic file writes (l_io.c) */
int l_open_seq(lua_State *L);      /* repro.core.seq: sample, token_logprobs, kl_categorical (l_seq.c) */
int l_open_crystal(lua_State *L);  /* repro.core.crystal: structures, CIF, spglib, matching (l_crystal.c) */

#endif
