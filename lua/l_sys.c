/* l_sys.c: repro.core.sys: thread count, BLAS identity, kit version.
 * init.lua copies these functions into the `repro` table itself. */
/* clock_gettime and CLOCK_MONOTONIC are POSIX: glibc's time.h declares them
 * under gcc's default gnu mode, not under the strict C11 of this build with
 * clang (the fuzz build). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "l_common.h"
#include "l_sys.h"

/* OpenBLAS's own entry points; declared here so the build does not depend on
 * which cblas.h (netlib or OpenBLAS) the alternatives system points at. */
extern char *openblas_get_config(void);
extern int openblas_get_num_threads(void);
extern int openblas_get_parallel(void);

/* Far above any real core count, low enough that OpenMP cannot be asked to
 * start millions of threads (which would kill the process, not raise). */
#define L_MAX_THREADS 1024

/* The library, its threading build and the threads it really runs on: one,
 * since rp_set_threads keeps it there and the kit splits each product over
 * its own threads (same bits at any thread count). */
void l_blas_info(char *buf, size_t n)
{
    static const char *const models[] = {"sequential", "pthreads", "openmp"};
    int p = openblas_get_parallel(), nt = openblas_get_num_threads();
    const char *cfg = openblas_get_config();
    /* The config string starts with "OpenBLAS <version>". */
    snprintf(buf, n, "%s (%s build, each call on %d thread%s; products split over the kit's threads)",
             cfg ? cfg : "OpenBLAS (unknown config)",
             p >= 0 && p <= 2 ? models[p] : "unknown threading", nt, nt == 1 ? "" : "s");
}

static int sys_set_threads(lua_State *L)
{
    int isint = 0;
    lua_Integer n = lua_tointegerx(L, 1, &isint);
    if (!isint || lua_type(L, 1) != LUA_TNUMBER)
        return luaL_error(L, "set_threads: expected an integer thread count, got %s",
                          luaL_tolstring(L, 1, NULL));
    if (n < 1 || n > L_MAX_THREADS)
        return luaL_error(L, "set_threads: thread count must be between 1 and %d, got %I",
                          L_MAX_THREADS, n);
    rp_set_threads((int)n);
    return 0;
}

static int sys_get_threads(lua_State *L)
{
    lua_pushinteger(L, rp_get_threads());
    return 1;
}

static int sys_blas_info(lua_State *L)
{
    char buf[512];
    l_blas_info(buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

/* Wall-clock seconds from a monotonic clock (os.clock() is CPU time summed
 * over threads, which overstates multi-threaded step times). */
static int sys_wtime(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static int sys_version(lua_State *L)
{
    lua_pushstring(L, REPRO_VERSION);
    return 1;
}

int l_open_sys(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"set_threads", sys_set_threads},
        {"get_threads", sys_get_threads},
        {"blas_info", sys_blas_info},
        {"version", sys_version},
        {"wtime", sys_wtime},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
