/* l_signal.c: repro.core.signal: turn SIGINT/SIGTERM into a flag a long run
 * polls between steps, so it can finish the step, checkpoint and exit.
 *
 *   signal.install()        -> handlers for SIGINT and SIGTERM (idempotent)
 *   signal.pending()        -> "SIGINT" | "SIGTERM" | nil (the first signal caught)
 *   signal.critical(on)     -> enter (true) or leave (false) a section that a
 *                              second signal must not cut short (a checkpoint
 *                              write, the exit after the first signal); leaving
 *                              returns true when a second signal arrived inside
 *   signal.clear()          -> forget the signal and re-arm the handlers
 *   signal.uninstall()      -> restore the actions found at install()
 *   signal.raise(name)      -> send "SIGINT" or "SIGTERM" to this process (tests)
 *
 * The first signal only sets the flag. A second one ends the process at once
 * (default action) unless a critical section is open: then it is remembered,
 * and the section finishes (the checkpoint is committed) before the exit. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "l_common.h"

static volatile sig_atomic_t caught;   /* 0 or the first signal's number */
static volatile sig_atomic_t critical; /* open critical sections */
static volatile sig_atomic_t insisted; /* a second signal came inside one */
static int installed;
static struct sigaction saved_int, saved_term;

static void set_default(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
}

static void on_signal(int sig)
{
    if (!caught) { caught = sig; return; }
    if (critical > 0) {
        static const char msg[] = "\nrepro: still writing the checkpoint; stopping as soon as it is committed\n";
        insisted = 1;
        ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)r;
        return;
    }
    /* The user insists: the default action, delivered when the handler
     * returns (sig is blocked while it runs). All of this is async-signal-safe. */
    set_default();
    raise(sig);
}

static int arm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART; /* a blocking read or write resumes; the loop polls */
    return sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 ? 0 : -1;
}

static int sig_install(lua_State *L)
{
    if (!installed) {
        if (sigaction(SIGINT, NULL, &saved_int) != 0 || sigaction(SIGTERM, NULL, &saved_term) != 0)
            return luaL_error(L, "signal.install: cannot read the current signal actions");
        installed = 1;
    }
    caught = 0;
    insisted = 0;
    if (arm() != 0) return luaL_error(L, "signal.install: cannot install the handlers");
    return 0;
}

static int sig_pending(lua_State *L)
{
    int s = caught;
    if (s == SIGINT) lua_pushliteral(L, "SIGINT");
    else if (s == SIGTERM) lua_pushliteral(L, "SIGTERM");
    else lua_pushnil(L);
    return 1;
}

static int sig_critical(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    if (lua_toboolean(L, 1)) {
        critical = critical + 1;
        return 0;
    }
    if (critical <= 0) return luaL_error(L, "signal.critical(false): no critical section is open");
    critical = critical - 1;
    lua_pushboolean(L, insisted != 0);
    if (critical == 0) insisted = 0;
    return 1;
}

static int sig_clear(lua_State *L)
{
    caught = 0;
    insisted = 0;
    if (installed && arm() != 0) return luaL_error(L, "signal.clear: cannot re-install the handlers");
    return 0;
}

static int sig_uninstall(lua_State *L)
{
    (void)L;
    if (installed) {
        sigaction(SIGINT, &saved_int, NULL);
        sigaction(SIGTERM, &saved_term, NULL);
        installed = 0;
    }
    caught = 0;
    insisted = 0;
    return 0;
}

static int sig_raise(lua_State *L)
{
    static const char *const names[] = {"SIGINT", "SIGTERM", NULL};
    int which = luaL_checkoption(L, 1, NULL, names);
    if (raise(which == 0 ? SIGINT : SIGTERM) != 0) return luaL_error(L, "signal.raise: raise failed");
    return 0;
}

int l_open_signal(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"install", sig_install},
        {"pending", sig_pending},
        {"critical", sig_critical},
        {"clear", sig_clear},
        {"uninstall", sig_uninstall},
        {"raise", sig_raise},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
