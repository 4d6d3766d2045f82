/* repl.c: protected calls with Ctrl-C interruption, error reports, and the
 * interactive loop. Chunk handling (try "return LINE" first, continuation
 * while the parser stops at <eof>) follows Lua 5.4's lua.c so the REPL reads
 * code exactly as the stock interpreter does. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lua.h>
#include <lauxlib.h>
#include "repl.h"

#define PROGNAME "repro"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define EOFMARK "<eof>"
#define HISTORY_FILE ".repro_history"
#define HISTORY_MAX 1000

/* ---- protected calls, interruptible by SIGINT ------------------------ */

/* The state a signal handler may touch: lua_sethook is the one Lua API
 * call documented as safe to make asynchronously. */
static lua_State *volatile interrupted_state;

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void set_sigint(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* A second Ctrl-C falls back to the default action, so a computation stuck
 * inside a C kernel (where no hook can run) can still be killed. */
static void laction(int sig)
{
    int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
    (void)sig;
    set_sigint(SIG_DFL);
    lua_sethook(interrupted_state, lstop, flag, 1);
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int l_docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    interrupted_state = L;
    set_sigint(laction);
    int status = lua_pcall(L, narg, nres, base);
    set_sigint(SIG_DFL);
    /* A Ctrl-C that landed after the call finished must not interrupt the
     * next one. */
    if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

int l_report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fflush(stdout);
        fprintf(stderr, PROGNAME ": %s\n", msg ? msg : "(error object is not a string)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* ---- reading lines ---------------------------------------------------- */

static int use_readline;
static char history_path[4096];

/* readline's callback interface lets Ctrl-C at the prompt drop the line
 * being typed instead of killing the process: poll() returns EINTR, and we
 * reset readline's line state ourselves. */
static volatile sig_atomic_t prompt_sigint;
static char *cb_line;
static int cb_done;

static void on_prompt_sigint(int sig)
{
    (void)sig;
    prompt_sigint = 1;
}

static void on_line(char *line)
{
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

/* Returns 1 with *out set (malloc'd, caller frees), 0 at end of input, -1
 * when Ctrl-C discarded the line. */
static int read_tty_line(const char *prompt, char **out)
{
    cb_line = NULL;
    cb_done = 0;
    prompt_sigint = 0;
    set_sigint(on_prompt_sigint);
    rl_callback_handler_install(prompt, on_line);
    int rc = 1;
    while (!cb_done) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, -1);
        if (r < 0 && errno == EINTR) {
            if (!prompt_sigint) continue;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_replace_line("", 0);
            rl_callback_handler_remove();
            fputs("\n", rl_outstream ? rl_outstream : stdout);
            rc = -1;
            break;
        }
        if (r < 0 || (p.revents & (POLLERR | POLLNVAL))) {
            rl_callback_handler_remove();
            rc = 0;
            break;
        }
        rl_callback_read_char();
    }
    set_sigint(SIG_DFL);
    if (rc == 1 && cb_line == NULL) {
        fputs("\n", rl_outstream ? rl_outstream : stdout);
        rc = 0;
    }
    *out = rc == 1 ? cb_line : NULL;
    if (rc != 1) free(cb_line);
    return rc;
}

/* Read one line and push it (without its newline). Returns as read_tty_line. */
static int pushline(lua_State *L, int firstline)
{
    char *line = NULL;
    int rc;
    if (use_readline) {
        rc = read_tty_line(firstline ? PROMPT1 : PROMPT2, &line);
        if (rc != 1) return rc;
    } else {
        size_t cap = 0;
        fflush(stdout);
        if (getline(&line, &cap, stdin) < 0) { free(line); return 0; }
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    lua_pushlstring(L, line, len);
    free(line);
    return 1;
}

static void saveline(const char *line)
{
    if (use_readline && line[0] != '\0') add_history(line);
}

/* ---- chunks: lua.c's loadline ----------------------------------------- */

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        size_t lmark = sizeof(EOFMARK) - 1;
        if (lmsg >= lmark && strcmp(msg + lmsg - lmark, EOFMARK) == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* An expression is printed, so try it as "return LINE" first. */
static int addreturn(lua_State *L)
{
    const char *line = lua_tostring(L, -1);
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2);
        saveline(line);
    } else {
        lua_pop(L, 2);
    }
    return status;
}

#define CHUNK_DROPPED (-2)

static int multiline(lua_State *L)
{
    for (;;) {
        size_t len;
        const char *line = lua_tolstring(L, 1, &len);
        int status = luaL_loadbuffer(L, line, len, "=stdin");
        if (!incomplete(L, status)) {
            saveline(line);
            return status;
        }
        int r = pushline(L, 0);
        if (r == 0) {   /* end of input inside a chunk: report the parser's error */
            saveline(line);
            return luaL_loadbuffer(L, line, len, "=stdin");
        }
        if (r < 0) return CHUNK_DROPPED;
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
}

/* Leaves the compiled chunk (or an error message) alone on the stack.
 * Returns its load status, -1 at end of input, CHUNK_DROPPED after Ctrl-C. */
static int loadline(lua_State *L)
{
    lua_settop(L, 0);
    int r = pushline(L, 1);
    if (r == 0) return -1;
    if (r < 0) return CHUNK_DROPPED;
    int status = addreturn(L);
    if (status != LUA_OK) status = multiline(L);
    if (status == CHUNK_DROPPED) { lua_settop(L, 0); return status; }
    lua_remove(L, 1);
    return status;
}

/* Push repro.pretty.show (print with readable tables, shapes, optimizers,
 * models), or the global print when the kit's Lua side is not available. */
static int push_printer(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "repro.pretty");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "show");
        lua_remove(L, -2);
        if (lua_isfunction(L, -1)) return 1;
    }
    lua_pop(L, 1);
    return lua_getglobal(L, "print");
}

/* Print every returned value, tab-separated like print: through
 * repro.pretty.show, so tables print readably and __tostring applies. */
static void print_results(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    push_printer(L);
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK) {
        lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1));
        lua_remove(L, -2);
        l_report(L, LUA_ERRRUN);
    }
}

/* ---- completion of globals and table fields -------------------------- */

static lua_State *completion_state;

/* Replace the value on top with a table whose keys it offers: itself, its
 * metatable's __index table, or (for userdata like tensors, whose __index is
 * a function) the method table registered as "<__name>.methods". */
static int as_table(lua_State *L)
{
    if (lua_istable(L, -1)) return 1;
    int t = luaL_getmetafield(L, -1, "__index");
    if (t == LUA_TTABLE) { lua_remove(L, -2); return 1; }
    if (t != LUA_TNIL) lua_pop(L, 1);
    if (luaL_getmetafield(L, -1, "__name") == LUA_TSTRING) {
        lua_pushliteral(L, ".methods");
        lua_concat(L, 2);
        if (lua_rawget(L, LUA_REGISTRYINDEX) == LUA_TTABLE) { lua_remove(L, -2); return 1; }
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    return 0;
}

/* Candidates for TEXT ("name", "tbl.name", "obj:name"): string keys of the
 * scope named before the last separator, looked up with raw accesses so
 * completion never runs user code. */
static char *complete_generator(const char *text, int state)
{
    static int idx, count;
    static char **items;
    lua_State *L = completion_state;
    if (state == 0) {
        for (int i = idx; i < count; i++) free(items[i]);
        free(items);
        items = NULL;
        idx = count = 0;
        const char *last = NULL;
        for (const char *p = text; *p; p++) if (*p == '.' || *p == ':') last = p;
        int top = lua_gettop(L), ok = 1;
        lua_pushglobaltable(L);
        for (const char *p = text; last && p < last;) {
            size_t k = strcspn(p, ".:");
            if (!as_table(L)) { ok = 0; break; }
            lua_pushlstring(L, p, k);
            lua_rawget(L, -2);
            lua_remove(L, -2);
            p += k + 1;
        }
        if (ok && as_table(L)) {
            const char *word = last ? last + 1 : text;
            size_t wl = strlen(word), plen = last ? (size_t)(last - text) + 1 : 0;
            int cap = 0;
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pop(L, 1);
                if (lua_type(L, -1) != LUA_TSTRING) continue;
                const char *key = lua_tostring(L, -1);
                if (strncmp(key, word, wl) != 0) continue;
                if (count == cap) {
                    cap = cap ? 2 * cap : 16;
                    char **grown = realloc(items, (size_t)cap * sizeof *items);
                    if (!grown) break;
                    items = grown;
                }
                char *full = malloc(plen + strlen(key) + 1);
                if (!full) break;
                memcpy(full, text, plen);
                strcpy(full + plen, key);
                items[count++] = full;
            }
        }
        lua_settop(L, top);
    }
    return idx < count ? items[idx++] : NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start; (void)end;
    rl_attempted_completion_over = 1;   /* never fall back to file names */
    return rl_completion_matches(text, complete_generator);
}

/* ---- the loop ---------------------------------------------------------- */

static void history_open(void)
{
    const char *home = getenv("HOME");
    history_path[0] = '\0';
    if (!home || !*home) return;
    snprintf(history_path, sizeof history_path, "%s/" HISTORY_FILE, home);
    using_history();
    stifle_history(HISTORY_MAX);
    read_history(history_path);   /* absent or unreadable: start empty */
}

static void history_close(void)
{
    /* An unwritable HOME loses the history, silently: the REPL still worked. */
    if (history_path[0] && write_history(history_path) == 0)
        history_truncate_file(history_path, HISTORY_MAX);
}

void l_repl(lua_State *L)
{
    use_readline = isatty(0);
    if (use_readline) {
        rl_readline_name = "repro";
        rl_catch_signals = 0;
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{}()[]#%^*+-/,~";
        rl_attempted_completion_function = complete;
        completion_state = L;
        history_open();
        printf("repro %s (%s). Globals: repro, T, nn, optim, fp8, plot, help. "
               "help() for help, Ctrl-C interrupts, Ctrl-D exits.\n", REPRO_VERSION, LUA_RELEASE);
    }
    int status;
    while ((status = loadline(L)) != -1) {
        if (status == CHUNK_DROPPED) continue;
        if (status == LUA_OK) status = l_docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) print_results(L);
        else l_report(L, status);
        fflush(stdout);
    }
    lua_settop(L, 0);
    if (use_readline) {
        history_close();
        rl_clear_history();
    }
}
