/* check.h: the assertion macros of the C unit tests. A failing check prints
 * file:line, the expression, expected and actual, and marks the test failed;
 * main() returns check_report(). */
#ifndef CHECK_H
#define CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(expected, actual)                                         \
    do {                                                                       \
        long long e_ = (long long)(expected), a_ = (long long)(actual);        \
        check_count++;                                                         \
        if (e_ != a_) {                                                        \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: %s: expected %lld, actual %lld\n", __FILE__, \
                    __LINE__, #actual, e_, a_);                                \
        }                                                                      \
    } while (0)

/* |expected - actual| <= tol (NaN never passes unless both are NaN). */
#define CHECK_NEAR(expected, actual, tol)                                      \
    do {                                                                       \
        double e_ = (double)(expected), a_ = (double)(actual);                 \
        check_count++;                                                         \
        if (!((isnan(e_) && isnan(a_)) || fabs(e_ - a_) <= (tol))) {           \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: %s: expected %.9g, actual %.9g (tol %g)\n", \
                    __FILE__, __LINE__, #actual, e_, a_, (double)(tol));       \
        }                                                                      \
    } while (0)

static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
