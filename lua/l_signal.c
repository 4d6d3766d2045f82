/* l_signal.c: repro.core.signal: turn SIGINT/SIGTERM into a flag a long run
 * polls between steps, so it can finish the step, checkpoint and exit.
 *
 *   signal.install()   -> handlers for SIGINT and SIGTERM (idempotent)
 *   signal.pending()   -> "SIGINT" | "SIGTERM" | nil (the first signal caught)
 *   signal.clear()     -> forget the signal and re-arm the handlers
 *   signal.uninstall() -> restore the actions found at install()
 *
 * The first signal only sets the flag and restores the default actions, so a
 * second signal (the user insisting) ends the process at once. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include "l_common.h"

static volatile sig_atomic_t caught; /* 0 or the signal number */
static int installed;
static struct sigaction saved_int, saved_term;

static void on_signal(int sig)
{
    if (!caught) caught = sig;
    /* sigaction is async-signal-safe; SIG_DFL for both: the next one kills */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
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

static int sig_clear(lua_State *L)
{
    caught = 0;
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
    return 0;
}

int l_open_signal(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"install", sig_install},
        {"pending", sig_pending},
        {"clear", sig_clear},
        {"uninstall", sig_uninstall},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
