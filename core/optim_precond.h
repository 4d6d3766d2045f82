/* optim_precond.h: shared by optim_soap.c and optim_shampoo.c only (see
 * optim_precond.c). */
#ifndef RP_OPTIM_PRECOND_H
#define RP_OPTIM_PRECOND_H

#include "optim.h"

typedef struct { int64_t A, n, B; } mode3;

/* Dimension d of the state's geometry as (A, n, B). */
mode3 rp_pc_mode_of(const rp_optim_state *st, int d);
/* Y (A,n,B) = X ×_d op(M): Y[a] = Mᵀ X[a] if trans (projection into the
 * eigenbasis), M X[a] otherwise (projection back). M is (n,n). Y != X. */
void rp_pc_mode_mul(float *Y, const float *X, const float *M, mode3 g, bool trans);
/* GG (n,n) = beta*GG + (1-beta) * sum_a X[a] X[a]ᵀ. */
void rp_pc_gg_update(float *GG, const float *X, mode3 g, float beta);
/* Apply every dimension's matrix (named prefix%d) to x in place (tmp: scratch). */
void rp_pc_project_all(float *x, float *tmp, const rp_optim_state *st, const char *prefix, bool trans, int64_t n);
bool rp_pc_any_precond(const rp_optim_state *st);
/* The buffer prefix%d. */
rp_tensor *rp_pc_buf(const rp_optim_state *st, const char *prefix, int d);
/* Are the GG and qname buffers present with the geometry's sizes? */
int rp_pc_check_state(const rp_optim_state *st, const char *k, const char *qname, int64_t n);
/* shampoo_beta, or beta2 when negative. */
double rp_pc_shampoo_beta(const rp_optim_config *c);
/* Every preconditioned dimension's GG takes g. */
void rp_pc_update_gg(rp_optim_state *st, const float *g, float beta);

/* Moments of soap/shampoo: decode into f32 scratch unless stored as fp32. */
typedef struct { rp_tensor *buf, *scale; rp_moment_format fmt; float *x; bool owned; } moment;
int rp_pc_moment_open(moment *m, rp_optim_state *st, const char *name, rp_moment_format fmt, int64_t n);
int rp_pc_moment_close(moment *m, int64_t n, bool store);

/* The geometry (soap's merge_dims) and which dimensions are preconditioned. */
void rp_pc_geometry(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p);
/* The state of soap (mat "Q") and shampoo (mat "root"). */
int rp_pc_init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p, const char *mat);

#endif
