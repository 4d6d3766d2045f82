/* repl.h: what main.c and repl.c share inside the repro executable. */
#ifndef L_REPL_H
#define L_REPL_H

#include <stddef.h>
#include <lua.h>

/* Call the function below narg arguments on the stack (lua.c's docall):
 * SIGINT interrupts it with the error "interrupted!"; on error the message
 * with a traceback is left on the stack. Returns the lua_pcall status. */
int l_docall(lua_State *L, int narg, int nres);
/* Print the error message on top of the stack to stderr ("repro: MSG") and
 * pop it; returns status unchanged. */
int l_report(lua_State *L, int status);
/* Run the interactive loop until end of input: readline with history when
 * stdin is a terminal, plain lines otherwise. */
void l_repl(lua_State *L);

#endif
