/* error.c: the thread's last error message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[512] = "no error";

int rp_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

const char *rp_errmsg(void) { return errbuf; }
