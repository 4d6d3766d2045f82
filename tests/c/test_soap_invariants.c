/* test_soap_invariants.c: SOAP and Shampoo checked step by step against
 * their definitions, recomputed in double precision from the state before
 * each step (optim.h): the parameter update (bias correction with unequal
 * betas, decoupled weight decay after the update), the eigenbasis schedule
 * (Q unchanged between refreshes, refreshed after updates f, 2f, ...), each
 * refresh (estimates diag(QᵀPQ) sorted descending, exp_avg_sq permuted by the
 * same order, Q = QR(P Q[:, perm]), exp_avg carried to the new basis) and
 * Shampoo's root schedule (steps 1, f+1, 2f+1, ...), and Shampoo as the SOAP
 * paper's DistributedShampoo baseline against a reference of that code. */
#include "check.h"
#include "linalg.h"
#include "optim.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rp_tensor *randn(int ndim, const int64_t *shape, uint64_t seed, double std)
{
    rp_tensor *t = rp_empty(RP_F32, ndim, shape);
    rp_generator g;
    rp_generator_seed(&g, seed);
    rp_fill_normal(t, &g, 0, std);
    return t;
}

static double *dcopy(const rp_tensor *t)
{
    int64_t n = rp_numel(t);
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = RP_F32P(t)[i];
    return d;
}

/* Y (r,c) = op(Q0) X op(Q1)ᵀ-style mode products of a 2-D X: into the basis
 * (fwd: Q0ᵀ X Q1) or back (Q0 X Q1ᵀ). A NULL Q is the identity. */
static void proj2(double *Y, const double *X, const double *Q0, const double *Q1, int r, int c, bool fwd)
{
    double *T = malloc(sizeof(double) * (size_t)r * c);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double s = 0;
            if (!Q0) s = X[i * c + j];
            else
                for (int k = 0; k < r; k++) s += (fwd ? Q0[k * r + i] : Q0[i * r + k]) * X[k * c + j];
            T[i * c + j] = s;
        }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double s = 0;
            if (!Q1) s = T[i * c + j];
            else
                for (int k = 0; k < c; k++) s += T[i * c + k] * (fwd ? Q1[k * c + j] : Q1[j * c + k]);
            Y[i * c + j] = s;
        }
    free(T);
}

/* perm: indices of diag(Qᵀ P Q) in descending order (n small: selection). */
static void est_order(int *perm, const double *Q, const double *P, int n)
{
    double *est = malloc(sizeof(double) * (size_t)n);
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) s += Q[a * n + j] * P[a * n + b] * Q[b * n + j];
        est[j] = s;
        perm[j] = j;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (est[perm[j]] > est[perm[i]]) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    free(est);
}

/* Gram-Schmidt (twice) of the columns of A (n,n) in place: the Q of QR up to column signs. */
static void gram_schmidt(double *A, int n)
{
    for (int j = 0; j < n; j++)
        for (int pass = 0; pass < 2; pass++) {
            for (int k = 0; k < j; k++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += A[i * n + k] * A[i * n + j];
                for (int i = 0; i < n; i++) A[i * n + j] -= d * A[i * n + k];
            }
            double nr = 0;
            for (int i = 0; i < n; i++) nr += A[i * n + j] * A[i * n + j];
            nr = sqrt(nr);
            for (int i = 0; i < n; i++) A[i * n + j] /= nr;
        }
}

static double maxrel(const double *want, const float *got, int64_t n)
{
    double scale = 0, err = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) err = fmax(err, fabs(want[i] - got[i]));
    return err / (scale > 0 ? scale : 1);
}

typedef struct { int refreshes, nontrivial_perms; double worst_p, worst_v, worst_m, worst_q; } soap_report;

/* Run SOAP on an (r,c) parameter with gradients whose dominant direction
 * moves (so the eigenvalue order changes between refreshes) and check every
 * step against the definition. */
static soap_report soap_run(int r, int c, int64_t max_dim, int steps, int f)
{
    int64_t shape[2] = {r, c};
    int n = r * c;
    rp_optim_config cfg;
    rp_optim_defaults(&cfg, RP_OPT_SOAP);
    cfg.lr = 0.05; cfg.beta1 = 0.9; cfg.beta2 = 0.99; cfg.weight_decay = 0.1; cfg.eps = 1e-8;
    cfg.precondition_frequency = f; cfg.shampoo_beta = 0.5; cfg.max_precond_dim = max_dim;
    rp_tensor *p = randn(2, shape, 7, 1);
    rp_optim_state *st = rp_optim_state_new(&cfg, p);
    CHECK(st != NULL);
    bool pre0 = r <= max_dim, pre1 = c <= max_dim;
    soap_report rep = {0, 0, 0, 0, 0, 0};
    double *Gd = malloc(sizeof(double) * (size_t)n), *gp = malloc(sizeof(double) * (size_t)n);
    double *m1 = malloc(sizeof(double) * (size_t)n), *v1 = malloc(sizeof(double) * (size_t)n);
    double *N = malloc(sizeof(double) * (size_t)n), *pe = malloc(sizeof(double) * (size_t)n);
    double *mo = malloc(sizeof(double) * (size_t)n), *mn = malloc(sizeof(double) * (size_t)n);
    double *vp = malloc(sizeof(double) * (size_t)n);
    for (int t = 1; t <= steps; t++) {
        rp_tensor *g = randn(2, shape, 100 + (uint64_t)t, 0.3);
        /* a moving low-rank direction: row (t/3) % r and column (t/4) % c dominate in turn */
        for (int j = 0; j < c; j++) RP_F32P(g)[((t / 3) % r) * c + j] += 2.0f;
        for (int i = 0; i < r; i++) RP_F32P(g)[i * c + (t / 4) % c] += 1.5f;
        for (int i = 0; i < n; i++) Gd[i] = RP_F32P(g)[i];
        /* the state before the step */
        double *p0 = dcopy(p);
        double *Q0 = pre0 && st->started ? dcopy(rp_optim_state_get(st, "Q0")) : NULL;
        double *Q1 = pre1 && st->started ? dcopy(rp_optim_state_get(st, "Q1")) : NULL;
        double *m0 = dcopy(rp_optim_state_get(st, "exp_avg")), *v0 = dcopy(rp_optim_state_get(st, "exp_avg_sq"));
        bool started = st->started;
        int64_t k = st->step + (started ? 1 : 0); /* the update counter after this step */
        CHECK(rp_optim_step(p, g, st, &cfg) == 0);
        rp_tensor_release(g);
        if (!started) { /* statistics only: nothing else moves */
            for (int i = 0; i < n; i++) CHECK(RP_F32P(p)[i] == (float)p0[i]);
            CHECK_EQ_INT(0, st->step);
            free(p0); free(m0); free(v0);
            continue;
        }
        CHECK_EQ_INT(k, st->step);
        /* Adam in the eigenbasis, back-projected, bias corrected, then decay */
        proj2(gp, Gd, Q0, Q1, r, c, true);
        for (int i = 0; i < n; i++) {
            m1[i] = 0.9 * m0[i] + 0.1 * gp[i];
            v1[i] = 0.99 * v0[i] + 0.01 * gp[i] * gp[i];
            gp[i] = m1[i] / (sqrt(v1[i]) + 1e-8);
        }
        proj2(N, gp, Q0, Q1, r, c, false);
        double ss = cfg.lr * sqrt(1 - pow(0.99, (double)k)) / (1 - pow(0.9, (double)k));
        for (int i = 0; i < n; i++) pe[i] = (p0[i] - ss * N[i]) * (1 - cfg.lr * cfg.weight_decay);
        rep.worst_p = fmax(rep.worst_p, maxrel(pe, RP_F32P(p), n));

        bool refresh = k % f == 0;
        rp_tensor *Qt[2] = {pre0 ? rp_optim_state_get(st, "Q0") : NULL, pre1 ? rp_optim_state_get(st, "Q1") : NULL};
        double *Qo[2] = {Q0, Q1};
        int dims[2] = {r, c};
        if (!refresh) {
            /* Q bit for bit unchanged, moments are the EMAs in the same basis */
            for (int d = 0; d < 2; d++)
                if (Qt[d])
                    for (int i = 0; i < dims[d] * dims[d]; i++) CHECK(RP_F32P(Qt[d])[i] == (float)Qo[d][i]);
            rep.worst_v = fmax(rep.worst_v, maxrel(v1, RP_F32P(rp_optim_state_get(st, "exp_avg_sq")), n));
            rep.worst_m = fmax(rep.worst_m, maxrel(m1, RP_F32P(rp_optim_state_get(st, "exp_avg")), n));
        } else {
            rep.refreshes++;
            /* per dimension: order of diag(Qᵀ P Q) with P the updated GG */
            int *perm[2] = {NULL, NULL};
            double *Qn[2] = {NULL, NULL};
            for (int d = 0; d < 2; d++) {
                if (!Qt[d]) continue;
                int nd = dims[d];
                char name[8];
                snprintf(name, sizeof name, "GG%d", d);
                double *P = dcopy(rp_optim_state_get(st, name));
                perm[d] = malloc(sizeof(int) * (size_t)nd);
                est_order(perm[d], Qo[d], P, nd);
                for (int j = 0; j < nd; j++) rep.nontrivial_perms += perm[d][j] != j;
                /* expected Q: Gram-Schmidt of P Q[:, perm], compared up to column signs */
                double *A = calloc((size_t)nd * nd, sizeof(double));
                for (int i = 0; i < nd; i++)
                    for (int j = 0; j < nd; j++)
                        for (int l = 0; l < nd; l++) A[i * nd + j] += P[i * nd + l] * Qo[d][l * nd + perm[d][j]];
                gram_schmidt(A, nd);
                const float *Qg = RP_F32P(Qt[d]);
                for (int j = 0; j < nd; j++) {
                    double dot = 0;
                    for (int i = 0; i < nd; i++) dot += A[i * nd + j] * Qg[i * nd + j];
                    rep.worst_q = fmax(rep.worst_q, fabs(1 - fabs(dot)));
                }
                /* (diag(QᵀPQ) of the new Q itself is not sorted in general: one
                 * power iteration from a basis whose order the gradients moved;
                 * what the algorithm sorts, and this test checks through perm,
                 * is the estimate from the old Q.) */
                Qn[d] = dcopy(Qt[d]);
                free(A); free(P);
            }
            /* exp_avg_sq = its updated value permuted by the same orders */
            for (int i = 0; i < r; i++)
                for (int j = 0; j < c; j++)
                    vp[i * c + j] = v1[(perm[0] ? perm[0][i] : i) * c + (perm[1] ? perm[1][j] : j)];
            rep.worst_v = fmax(rep.worst_v, maxrel(vp, RP_F32P(rp_optim_state_get(st, "exp_avg_sq")), n));
            /* exp_avg carried over: the same moment in the original space */
            proj2(mo, m1, Q0, Q1, r, c, false);
            double *mg = dcopy(rp_optim_state_get(st, "exp_avg"));
            proj2(mn, mg, Qn[0], Qn[1], r, c, false);
            double scale = 0, err = 0;
            for (int i = 0; i < n; i++) { scale = fmax(scale, fabs(mo[i])); err = fmax(err, fabs(mo[i] - mn[i])); }
            rep.worst_m = fmax(rep.worst_m, err / scale);
            free(mg);
            for (int d = 0; d < 2; d++) { free(perm[d]); free(Qn[d]); }
        }
        free(p0); free(Q0); free(Q1); free(m0); free(v0);
    }
    free(Gd); free(gp); free(m1); free(v1); free(N); free(pe); free(mo); free(mn); free(vp);
    rp_optim_state_free(st);
    rp_tensor_release(p);
    return rep;
}

static void test_soap_step_by_step(void)
{
    struct { int r, c; int64_t max_dim; } cases[] = {{6, 4, 10000}, {5, 9, 10000}, {7, 12, 8}};
    for (int i = 0; i < 3; i++) {
        soap_report rep = soap_run(cases[i].r, cases[i].c, cases[i].max_dim, 16, 3);
        printf("soap %dx%d (max_precond_dim %lld): %d refreshes, %d moved columns; max rel err p %.2g v %.2g m %.2g, "
               "Q defect %.2g\n", cases[i].r, cases[i].c, (long long)cases[i].max_dim, rep.refreshes,
               rep.nontrivial_perms, rep.worst_p, rep.worst_v, rep.worst_m, rep.worst_q);
        CHECK_EQ_INT(5, rep.refreshes); /* updates 3, 6, 9, 12, 15 of 15 */
        CHECK(rep.nontrivial_perms > 0); /* the test moved the eigenvalue order */
        CHECK_NEAR(0, rep.worst_p, 1e-5);
        CHECK_NEAR(0, rep.worst_v, 1e-5);
        CHECK_NEAR(0, rep.worst_m, 1e-4);
        CHECK_NEAR(0, rep.worst_q, 1e-4);
    }
}

/* root (n,n) of factor GG (n,n) against its definition in each eigen-
 * direction v_k of GG (the same eigh as the kit's): root v_k = s_k v_k with
 * s_k = (max(w_k, 0) + e)^(-1/4), e = matrix_eps · λmax. Returns the worst
 * |root v_k - s_k v_k| relative to max s_k. */
static double root_defect(const float *root, const float *GG, int n, double matrix_eps)
{
    float *w = malloc(sizeof(float) * (size_t)n), *V = malloc(sizeof(float) * (size_t)n * n);
    CHECK(rp_eigh_f32(w, V, GG, n) == 0);
    double lmax = fmax(w[n - 1], 0.0), e = matrix_eps * lmax, smax = 0, worst = 0;
    for (int k = 0; k < n; k++) smax = fmax(smax, pow(fmax(w[k], 0.0) + e, -0.25));
    for (int k = 0; k < n; k++) {
        double sk = pow(fmax(w[k], 0.0) + e, -0.25);
        for (int i = 0; i < n; i++) {
            double rv = 0;
            for (int j = 0; j < n; j++) rv += (double)root[i * n + j] * V[j * n + k];
            worst = fmax(worst, fabs(rv - sk * V[i * n + k]) / smax);
        }
    }
    free(w); free(V);
    return worst;
}

/* Shampoo: roots recomputed at steps 1, f+1, 2f+1, ... and constant
 * between; each root (L + e I)^(-1/4) with e = matrix_eps * λmax. */
static void test_shampoo_root_schedule(void)
{
    int64_t shape[2] = {4, 7};
    rp_optim_config cfg;
    rp_optim_defaults(&cfg, RP_OPT_SHAMPOO);
    cfg.precondition_frequency = 4; cfg.lr = 0.01;
    rp_tensor *p = randn(2, shape, 3, 1);
    rp_optim_state *st = rp_optim_state_new(&cfg, p);
    float prev[2][49];
    memset(prev, 0, sizeof prev);
    int changed_at[2][16], nch[2] = {0, 0};
    for (int t = 1; t <= 13; t++) {
        rp_tensor *g = randn(2, shape, 500 + (uint64_t)t, 1);
        CHECK(rp_optim_step(p, g, st, &cfg) == 0);
        rp_tensor_release(g);
        for (int d = 0; d < 2; d++) {
            char name[8];
            snprintf(name, sizeof name, "root%d", d);
            rp_tensor *R = rp_optim_state_get(st, name);
            int nd = (int)shape[d];
            if (memcmp(prev[d], RP_F32P(R), sizeof(float) * (size_t)nd * nd) != 0) changed_at[d][nch[d]++] = t;
            memcpy(prev[d], RP_F32P(R), sizeof(float) * (size_t)nd * nd);
        }
        /* each root against its definition; at step 1 the right factor (7x7
         * from 4 rows) is rank-deficient and the floor e decides its null space */
        if (t == 1 || t == 5) {
            for (int d = 0; d < 2; d++) {
                char rn[8], gn[8];
                snprintf(rn, sizeof rn, "root%d", d);
                snprintf(gn, sizeof gn, "GG%d", d);
                double defect = root_defect(RP_F32P(rp_optim_state_get(st, rn)), RP_F32P(rp_optim_state_get(st, gn)),
                                            (int)shape[d], cfg.matrix_eps);
                if (defect > 1e-4) fprintf(stderr, "  shampoo root%d at step %d: defect %.3g\n", d, t, defect);
                CHECK(defect <= 1e-4);
            }
        }
        /* the left factor (4x4 from 7 columns) has full rank: R⁴ (L + e I) = I */
        double *L = dcopy(rp_optim_state_get(st, "GG0"));
        if (t == 1 || t == 5 || t == 9 || t == 13) {
            double R[16], R2[16], R4[16], M[16], lmax = 0;
            for (int i = 0; i < 16; i++) R[i] = prev[0][i];
            for (int i = 0; i < 4; i++) lmax = fmax(lmax, L[i * 4 + i]); /* bound only; e is tiny */
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += R[i * 4 + k] * R[k * 4 + j];
                    R2[i * 4 + j] = s;
                }
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += R2[i * 4 + k] * R2[k * 4 + j];
                    R4[i * 4 + j] = s;
                }
            double worst = 0;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += R4[i * 4 + k] * L[k * 4 + j];
                    M[i * 4 + j] = s;
                    worst = fmax(worst, fabs(M[i * 4 + j] - (i == j)));
                }
            (void)lmax;
            CHECK_NEAR(0, worst, 1e-3);
        }
        free(L);
    }
    for (int d = 0; d < 2; d++) {
        CHECK_EQ_INT(4, nch[d]);
        int want[4] = {1, 5, 9, 13};
        for (int i = 0; i < 4 && i < nch[d]; i++) CHECK_EQ_INT(want[i], changed_at[d][i]);
    }
    CHECK_EQ_INT(13, st->step);
    rp_optim_state_free(st);
    rp_tensor_release(p);
}

/* Shampoo's update against its definition at a step with fresh roots:
 * p ← p·(1 - lr·wd) - lr · graft(Lr m̂ Rr), m̂ = m/(1-β1^t). */
static void test_shampoo_first_step(void)
{
    int64_t shape[2] = {3, 5};
    rp_optim_config cfg;
    rp_optim_defaults(&cfg, RP_OPT_SHAMPOO);
    cfg.lr = 0.1; cfg.beta1 = 0.9; cfg.beta2 = 0.99; cfg.weight_decay = 0.1;
    rp_tensor *p = randn(2, shape, 11, 1), *g = randn(2, shape, 12, 1);
    double *p0 = dcopy(p), *G = dcopy(g);
    rp_optim_state *st = rp_optim_state_new(&cfg, p);
    CHECK(rp_optim_step(p, g, st, &cfg) == 0);
    double *L = dcopy(rp_optim_state_get(st, "root0")), *R = dcopy(rp_optim_state_get(st, "root1"));
    /* step 1: m̂ = g, v̂ = g², AdamW direction g/(|g| + eps) */
    double u[15], na = 0, ns = 0, want[15];
    for (int i = 0; i < 15; i++) { double a = G[i] / (fabs(G[i]) + 1e-8); na += a * a; }
    proj2(u, G, L, R, 3, 5, false); /* L G Rᵀ, R symmetric */
    for (int i = 0; i < 15; i++) ns += u[i] * u[i];
    for (int i = 0; i < 15; i++) want[i] = p0[i] * (1 - 0.1 * 0.1) - 0.1 * u[i] * sqrt(na / ns);
    CHECK_NEAR(0, maxrel(want, RP_F32P(p), 15), 1e-5);
    free(p0); free(G); free(L); free(R);
    rp_optim_state_free(st);
    rp_tensor_release(p); rp_tensor_release(g);
}

/* Cyclic Jacobi: A (n,n symmetric, destroyed) = V diag(w) Vᵀ, double. */
static void jacobi_eigh(double *w, double *V, double *A, int n)
{
    for (int i = 0; i < n * n; i++) V[i] = (i % (n + 1)) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
        if (off < 1e-30) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (fabs(A[p * n + q]) < 1e-300) continue;
                double th = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1)), c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* A <- A J */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq; A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* A <- Jᵀ A */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk; A[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq; V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A[i * n + i];
}

/* DistributedShampoo's root of a factor (use_bias_correction, eigen method):
 * F/bc, eigenvalues shifted to >= 0, + eps, to the power ex. */
static void ds_root(double *R, const double *F, int n, double bc, double eps, double ex)
{
    double A[25], V[25], w[5], lmin = 1e300;
    for (int i = 0; i < n * n; i++) A[i] = F[i] / bc;
    jacobi_eigh(w, V, A, n);
    for (int i = 0; i < n; i++) lmin = fmin(lmin, w[i]);
    for (int i = 0; i < n; i++) w[i] = pow(w[i] - fmin(lmin, 0) + eps, ex);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += V[i * n + k] * w[k] * V[j * n + k];
            R[i * n + j] = s;
        }
}

/* Shampoo configured as the SOAP paper's DistributedShampoo baseline against
 * a double-precision reference written from facebookresearch/optimizers
 * (distributed_shampoo.py, 2024-09): grafted AdamW alone before the first
 * preconditioning at step f; roots of the bias-corrected factors at f, 2f, ...
 * with an absolute epsilon and exponent -1/2.5; the Shampoo direction scaled
 * to AdamW's per-layer norm. Settings make every term matter: epsilon and
 * matrix_eps near the scale of the quantities they are added to, unequal betas
 * (Adam's and the factors'), weight decay, a rank-deficient right factor. */
static void test_shampoo_distributed_reference(void)
{
    enum { R_ = 3, C_ = 5, N_ = 15, F_ = 3, STEPS = 9 };
    int64_t shape[2] = {R_, C_};
    rp_optim_config cfg;
    rp_optim_defaults(&cfg, RP_OPT_SHAMPOO);
    cfg.lr = 0.05; cfg.beta1 = 0.9; cfg.beta2 = 0.99; cfg.shampoo_beta = 0.8; cfg.eps = 0.05;
    cfg.weight_decay = 0.1; cfg.precondition_frequency = F_; cfg.exponent = -1 / 2.5;
    cfg.matrix_eps = 0.05; cfg.matrix_eps_relative = false; cfg.start_preconditioning_step = -1;
    CHECK(rp_optim_check_config(&cfg) == 0);
    rp_tensor *p = randn(2, shape, 21, 1);
    double *P = dcopy(p), m[N_] = {0}, v[N_] = {0}, L[R_ * R_] = {0}, Rf[C_ * C_] = {0};
    double rootL[R_ * R_] = {0}, rootR[C_ * C_] = {0};
    rp_optim_state *st = rp_optim_state_new(&cfg, p);
    double worst = 0, worst_pre = 0;
    for (int t = 1; t <= STEPS; t++) {
        rp_tensor *g = randn(2, shape, 700 + (uint64_t)t, t < 4 ? 0.3 : 1.0);
        double *G = dcopy(g);
        CHECK(rp_optim_step(p, g, st, &cfg) == 0);
        double sb = 0.8, b1 = 0.9, b2 = 0.99;
        for (int i = 0; i < R_; i++)
            for (int j = 0; j < R_; j++) {
                double s = 0;
                for (int k = 0; k < C_; k++) s += G[i * C_ + k] * G[j * C_ + k];
                L[i * R_ + j] = sb * L[i * R_ + j] + (1 - sb) * s;
            }
        for (int i = 0; i < C_; i++)
            for (int j = 0; j < C_; j++) {
                double s = 0;
                for (int k = 0; k < R_; k++) s += G[k * C_ + i] * G[k * C_ + j];
                Rf[i * C_ + j] = sb * Rf[i * C_ + j] + (1 - sb) * s;
            }
        if (t >= F_ && t % F_ == 0) {
            ds_root(rootL, L, R_, 1 - pow(sb, t), 0.05, -0.4);
            ds_root(rootR, Rf, C_, 1 - pow(sb, t), 0.05, -0.4);
        }
        double mh[N_], ua[N_], us[N_], na = 0, ns = 0;
        for (int i = 0; i < N_; i++) {
            m[i] = b1 * m[i] + (1 - b1) * G[i];
            v[i] = b2 * v[i] + (1 - b2) * G[i] * G[i];
            mh[i] = m[i] / (1 - pow(b1, t));
            ua[i] = mh[i] / (sqrt(v[i] / (1 - pow(b2, t))) + 0.05);
            na += ua[i] * ua[i];
        }
        proj2(us, mh, rootL, rootR, R_, C_, false); /* rootL m̂ rootRᵀ, roots symmetric */
        for (int i = 0; i < N_; i++) ns += us[i] * us[i];
        for (int i = 0; i < N_; i++) {
            double u = t < F_ ? ua[i] : us[i] * sqrt(na / ns);
            P[i] = P[i] * (1 - 0.05 * 0.1) - 0.05 * u;
        }
        double e = maxrel(P, RP_F32P(p), N_);
        if (e > 2e-5) fprintf(stderr, "  shampoo (DistributedShampoo settings) step %d: rel err %.3g\n", t, e);
        worst = fmax(worst, e);
        if (t < F_) worst_pre = fmax(worst_pre, e);
        free(G);
        rp_tensor_release(g);
    }
    CHECK_NEAR(0, worst_pre, 2e-6);
    CHECK_NEAR(0, worst, 2e-5);
    CHECK_EQ_INT(STEPS, st->step);
    free(P);
    rp_optim_state_free(st);
    rp_tensor_release(p);
}

int main(void)
{
    test_soap_step_by_step();
    test_shampoo_root_schedule();
    test_shampoo_first_step();
    test_shampoo_distributed_reference();
    return check_report("test_soap_invariants");
}
