/* main.c: the repro executable. Option handling and the `arg` table follow
 * Lua's own lua.c so scripts behave as under the stock interpreter; the
 * interactive loop is in repl.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "l_common.h"
#include "repl.h"
#include "l_sys.h"
#include "dist.h"

#define PROGNAME "repro"
/* The source root, derived from the Lua directory CMake gives us. */
#define SOURCE_ROOT REPRO_SOURCE_LUA_DIR "/.."

static const char usage_text[] =
    "usage: repro [options] [SCRIPT.lua [args...]]\n"
    "       repro figures [args...] | repro bench [args...]\n"
    "Options:\n"
    "  -e CODE     run the Lua string CODE\n"
    "  -l NAME     require library NAME into global NAME\n"
    "  -i          interactive mode after running SCRIPT (or alone)\n"
    "  -v, --version  show kit, Lua and BLAS versions and thread counts\n"
    "  -h, --help  show this help\n"
    "  --          stop handling options\n"
    "  -           run standard input as a script\n"
    "With no arguments: the interactive REPL if stdin is a terminal, otherwise\n"
    "standard input runs as a script. Everything run by repro (the REPL, -e CODE,\n"
    "standard input, a SCRIPT) sees the globals repro, T (repro.tensor), nn, optim,\n"
    "fp8, plot and help; help() explains them.\n"
    "Environment: REPRO_THREADS=N sets kernel and BLAS threads (default: all\n"
    "cores); REPRO_LUA_DIR overrides where lua/repro/*.lua are loaded from.\n"
    "Script errors exit 1; a script that cannot be opened or bad usage exits 2.\n";

static void print_version(void)
{
    char blas[512];
    l_blas_info(blas, sizeof blas);
    printf("repro %s\n%s\nBLAS: %s\nthreads: %d (REPRO_THREADS or repro.set_threads)\n",
           REPRO_VERSION, LUA_RELEASE, blas, rp_get_threads());
}

static int usage_error(const char *what, const char *opt)
{
    fprintf(stderr, PROGNAME ": %s '%s'\n%s", what, opt, usage_text);
    return 2;
}

/* Lua sources come from (in order) $REPRO_LUA_DIR, an installed tree beside
 * the executable (PREFIX/bin/repro -> PREFIX/share/lua/5.4, where a stock
 * lua5.4 finds them too), the source tree the executable was built from, then
 * the configured install directory. repro.core itself is linked in (the same
 * objects as the shared module repro/core.so) and preloaded. */
static const char *lua_dir(char *buf, size_t n)
{
    const char *env = getenv("REPRO_LUA_DIR");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, n, "%s/../share/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR, exe);
            char probe[PATH_MAX + 64];
            snprintf(probe, sizeof probe, "%s/repro/init.lua", buf);
            if (access(probe, R_OK) == 0) return buf;
        }
    }
    if (access(REPRO_SOURCE_LUA_DIR "/repro/init.lua", R_OK) == 0) return REPRO_SOURCE_LUA_DIR;
    return REPRO_INSTALL_LUA_DIR;
}

/* An installed copy runs `repro experiments/NAME.lua` from any folder: a
 * relative script path that does not exist here is looked up in the
 * installed share folder (PREFIX/bin/repro -> PREFIX/share/repro/NAME).
 * Returns buf, or NULL when there is no such installed file. */
static const char *installed_script(const char *fname, char *buf, size_t n)
{
    if (!fname || fname[0] == '/' || access(fname, F_OK) == 0) return NULL;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    if ((size_t)snprintf(buf, n, "%s/../share/repro/%s", exe, fname) >= n) return NULL;
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void setup_state(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_repro_core);
    lua_setfield(L, -2, "repro.core");
    lua_pop(L, 1);
    char buf[PATH_MAX + 32];
    const char *dir = lua_dir(buf, sizeof buf);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

/* REPRO_THREADS, else every online core. Returns -1 on a malformed value. */
static int setup_threads(void)
{
    const char *env = getenv("REPRO_THREADS");
    long n;
    if (env && *env) {
        char *end;
        errno = 0;
        n = strtol(env, &end, 10);
        if (errno || *end || n < 1 || n > 1024) {
            fprintf(stderr, PROGNAME ": REPRO_THREADS must be an integer from 1 to 1024, got '%s'\n", env);
            return -1;
        }
    } else {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) n = 1;
    }
    rp_set_threads((int)n);
    return 0;
}

/* Global `arg` exactly as lua.c builds it: script at 0, its arguments at
 * 1..n, the interpreter and options at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc) script = 0;
    lua_createtable(L, argc - (script + 1), script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status)
{
    if (status == LUA_OK) status = l_docall(L, 0, 0);
    return l_report(L, status);
}

/* Run the script at argv[script] (NULL name = stdin) with the script's
 * arguments as varargs. Returns the process exit code. */
static int run_script(lua_State *L, char **argv, int script)
{
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
    char inst[PATH_MAX + 32];
    const char *alt = installed_script(fname, inst, sizeof inst);
    int status = luaL_loadfile(L, alt ? alt : fname);
    if (status == LUA_ERRFILE) {
        /* Lua's message is "cannot open NAME: reason"; keep its wording. */
        l_report(L, status);
        return 2;
    }
    if (status != LUA_OK) { l_report(L, status); return 1; }
    lua_getglobal(L, "arg");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return l_report(L, l_docall(L, n, LUA_MULTRET)) == LUA_OK ? 0 : 1;
}

/* `repro figures [args]`: require("repro.figures").main(args), which redraws
 * every figure from its saved data. */
static int cmd_figures(lua_State *L, int argc, char **argv)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushliteral(L, "repro.figures");
    lua_getfield(L, -3, "path");
    lua_call(L, 2, 1);
    int found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    if (!found) {
        fprintf(stderr, PROGNAME " figures: not available yet (no lua/repro/figures.lua); "
                        "run the experiments in experiments/ to draw their figures\n");
        return 1;
    }
    lua_getglobal(L, "require");
    lua_pushliteral(L, "repro.figures");
    if (l_report(L, l_docall(L, 1, 1)) != LUA_OK) return 1;
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, argc - 1, 1);   /* {[0] = "figures", args...} */
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    if (l_report(L, l_docall(L, 1, 1)) != LUA_OK) return 1;
    /* main may return an exit status; nothing (or true) means success. */
    if (lua_isinteger(L, -1)) return (int)lua_tointeger(L, -1);
    return lua_toboolean(L, -1) || lua_isnil(L, -1) ? 0 : 1;
}

/* `repro bench`: hand over to bench/run, telling it where this binary and its
 * build directory are. */
static int cmd_bench(int argc, char **argv)
{
    const char *script = SOURCE_ROOT "/bench/run";
    if (access(script, R_OK) != 0) {
        fprintf(stderr, PROGNAME " bench: no benchmarks yet (%s is missing)\n", script);
        return 1;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        setenv("REPRO_BINARY", exe, 0);
        char *slash = strrchr(exe, '/');
        if (slash) { *slash = '\0'; setenv("REPRO_BUILD_DIR", exe, 0); }
    }
    char **av = calloc((size_t)argc + 2, sizeof *av);
    if (!av) { fprintf(stderr, PROGNAME " bench: out of memory\n"); return 1; }
    av[0] = "bash";
    av[1] = (char *)script;
    for (int i = 2; i < argc; i++) av[i] = argv[i];
    execvp("bash", av);
    fprintf(stderr, PROGNAME " bench: cannot run %s: %s\n", script, strerror(errno));
    free(av);
    return 1;
}

enum { HAS_I = 1, HAS_V = 2, HAS_E = 4 };

/* lua.c's collectargs: returns the flags, sets *script to the index of the
 * script (argc if none); returns -1 after printing a usage error. */
static int collect_args(int argc, char **argv, int *script)
{
    int flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        *script = i;
        if (a[0] != '-') return flags;
        if (strcmp(a, "--") == 0) { *script = i + 1; return flags; }
        if (strcmp(a, "-") == 0) return flags;
        if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) flags |= HAS_V;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); exit(0); }
        else if (strcmp(a, "-i") == 0) flags |= HAS_I;
        else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
            if (i + 1 >= argc) { usage_error("option needs an argument:", a); return -1; }
            if (a[1] == 'e') flags |= HAS_E;
            i++;
        } else { usage_error("unrecognized option", a); return -1; }
    }
    *script = argc;
    return flags;
}

/* Run -e and -l in command-line order (lua.c's runargs). */
static int run_args(lua_State *L, char **argv, int n)
{
    for (int i = 1; i < n; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            const char *code = argv[++i];
            if (dochunk(L, luaL_loadbuffer(L, code, strlen(code), "=(command line)")) != LUA_OK) return 0;
        } else if (strcmp(argv[i], "-l") == 0) {
            const char *name = argv[++i];
            lua_getglobal(L, "require");
            lua_pushstring(L, name);
            if (l_report(L, l_docall(L, 1, 1)) != LUA_OK) return 0;
            lua_setglobal(L, name);
        }
    }
    return 1;
}

/* The kit's globals, set before any code runs (the REPL, -e, stdin, a
 * script): the kit and its submodules under short names, and help. One rule
 * for every way of running code, so a line that works in the REPL works in
 * -e and in a file. Scripts that stay portable to plain `lua` keep their
 * `local repro = require "repro"`. If the kit does not load, plain Lua runs
 * on with a warning. */
static void kit_globals(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "repro");
    if (l_docall(L, 1, 1) != LUA_OK) {
        fprintf(stderr, PROGNAME ": warning: require 'repro' failed, running with plain Lua only:\n");
        l_report(L, LUA_ERRRUN);
        return;
    }
    static const char *const names[][2] = {
        {"tensor", "T"}, {"nn", "nn"}, {"optim", "optim"}, {"fp8", "fp8"}, {"plot", "plot"}, {"help", "help"},
    };
    if (lua_istable(L, -1)) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            lua_getfield(L, -1, names[i][0]);
            lua_setglobal(L, names[i][1]);
        }
    }
    lua_setglobal(L, "repro");
}

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    if (argc > 1 && strcmp(argv[1], "figures") == 0) {
        lua_pushinteger(L, cmd_figures(L, argc - 1, argv + 1));
        return 1;
    }
    int script;
    int flags = collect_args(argc, argv, &script);
    if (flags < 0) { lua_pushinteger(L, 2); return 1; }
    if (flags & HAS_V) print_version();
    create_arg_table(L, argv, argc, script);
    lua_gc(L, LUA_GCGEN, 0, 0);
    kit_globals(L);
    int rc = 0;
    if (!run_args(L, argv, script)) rc = 1;
    else if (script < argc) rc = run_script(L, argv, script);
    if (rc == 0) {
        if (flags & HAS_I) {
            l_repl(L);
        } else if (script == argc && !(flags & (HAS_E | HAS_V))) {
            if (isatty(0)) {
                l_repl(L);
            } else {
                rc = dochunk(L, luaL_loadfile(L, NULL)) == LUA_OK ? 0 : 1;
            }
        }
    }
    lua_pushinteger(L, rc);
    return 1;
}

/* Idle threads must not spin on 2 cores. libgomp reads OMP_WAIT_POLICY once,
 * when it loads, and by default its idle threads spin between parallel
 * regions, taking the core from whatever runs next: the kit's own serial
 * code, another process, or (before BLAS was kept on one thread) OpenBLAS's
 * workers. Measured on the small benchmark model: two runs side by side took
 * 157 ms per step each with the passive policy and 394 ms with the default;
 * a lone run on an idle machine is 5-10% faster with spinning, not worth
 * that. OpenBLAS's pthread workers likewise spin after a threaded call;
 * the kit makes none, but a timeout costs nothing. Neither setting changes a
 * result. So, for whatever the user left unset, set OMP_WAIT_POLICY=passive
 * and OPENBLAS_THREAD_TIMEOUT=4 (OpenBLAS's minimum: 2^4 cycles) and
 * re-execute once, before the libraries start threads. */
static void ensure_thread_env(char **argv)
{
    if (!argv || !argv[0]) return;
    bool changed = false;
    if (!getenv("OMP_WAIT_POLICY")) changed |= setenv("OMP_WAIT_POLICY", "passive", 1) == 0;
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) == 0;
    if (changed) execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the libraries' defaults. */
}

/* ---- processes (repro.dist, issue 22): a self-contained hook ----
 * Under mpirun MPI is brought up before any script runs and finalised at
 * exit. A process ending with an error ends the whole job (MPI_Abort), so a
 * rank that fails never leaves the others waiting in a collective; 0 and 130
 * (a stop every rank agreed on, repro.train.interrupt) finalise normally.
 * Without REPRO_THREADS, the cores are shared among the ranks of a machine. */
static void dist_atexit(void) { rp_dist_finalize(); }

static int dist_os_exit(lua_State *L)
{
    int code;
    if (lua_isnoneornil(L, 1)) code = EXIT_SUCCESS;
    else if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else code = (int)luaL_checkinteger(L, 1);
    fflush(stdout);
    fflush(stderr);
    if (code != 0 && code != 130) rp_dist_abort(code);
    exit(code);
}

static int dist_hook_start(void)
{
    if (rp_dist_init() != 0) {
        fprintf(stderr, PROGNAME ": %s\n", rp_errmsg());
        return -1;
    }
    if (!rp_dist_active()) return 0;
    atexit(dist_atexit);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const char *threads = getenv("REPRO_THREADS");
    if (local && (!threads || !*threads)) {
        long nl = strtol(local, NULL, 10), nc = sysconf(_SC_NPROCESSORS_ONLN);
        if (nl > 1 && nc >= 1) rp_set_threads(nc / nl > 1 ? (int)(nc / nl) : 1);
    }
    return 0;
}

static void dist_hook_lua(lua_State *L)
{
    if (!rp_dist_active()) return;
    lua_getglobal(L, "os");
    lua_pushcfunction(L, dist_os_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
}

static int dist_hook_end(int rc)
{
    if (rc != 0 && rc != 130) {
        fflush(stdout);
        fflush(stderr);
        rp_dist_abort(rc);
    }
    rp_dist_finalize();
    return rc;
}
/* ---- end processes ---- */

int main(int argc, char **argv)
{
    ensure_thread_env(argv);
    if (argc >= 1 && argv[0] == NULL) argc = 0;
    if (setup_threads() != 0) return 2;
    if (argc > 1 && strcmp(argv[1], "bench") == 0) return cmd_bench(argc, argv);
    if (argc > 1 && strcmp(argv[1], "test") == 0) {
        fprintf(stderr, PROGNAME " test: run the suite through the launcher at the source root: "
                        "./repro test (or: ctest --test-dir BUILD_DIR)\n");
        return 2;
    }
    if (dist_hook_start() != 0) return 2;
    lua_State *L = luaL_newstate();
    if (!L) { fprintf(stderr, PROGNAME ": cannot create Lua state: not enough memory\n"); return 1; }
    setup_state(L);
    dist_hook_lua(L);
    int rc;
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, PROGNAME ": %s\n", lua_tostring(L, -1));
        rc = 1;
    } else {
        rc = (int)lua_tointeger(L, -1);
    }
    lua_close(L);
    return dist_hook_end(rc);
}
