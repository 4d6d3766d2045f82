/* test_adafactor.c: Adafactor (optim.h) against its definition recomputed in
 * double, with the options that change the arithmetic switched on: update
 * clipping at a threshold below the update's RMS, momentum, weight decay,
 * factored (row x column) second moment for a matrix and a 3-D tensor, the
 * unfactored one for a vector. */
#include "check.h"
#include "optim.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

/* One step of the definition on (rows, cols) (rows 0: a vector of cols):
 * β2t = 1 - t^decay; factored: r_i, c_j EMAs of the row / column means of
 * g² + ε1, v̂_ij = r_i c_j / mean(r); else v EMA of g² + ε1; u = g/√v̂;
 * d = u / max(1, RMS(u)/threshold); m = β1 m + (1-β1) d; p ← p(1 - lr·wd) - lr m. */
static void reference_step(double *p, double *r, double *c, double *v, double *m, const float *g, int rows,
                           int cols, int t, const rp_optim_config *cfg)
{
    int n = rows ? rows * cols : cols;
    double b2t = 1 - pow((double)t, cfg->decay_rate), e = cfg->eps;
    double *u = malloc(sizeof(double) * (size_t)n);
    if (rows) {
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) s += (double)g[i * cols + j] * g[i * cols + j] + e;
            r[i] = b2t * r[i] + (1 - b2t) * s / cols;
        }
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int i = 0; i < rows; i++) s += (double)g[i * cols + j] * g[i * cols + j] + e;
            c[j] = b2t * c[j] + (1 - b2t) * s / rows;
        }
        double rm = 0;
        for (int i = 0; i < rows; i++) rm += r[i] / rows;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) u[i * cols + j] = g[i * cols + j] / sqrt(r[i] * c[j] / rm);
    } else {
        for (int i = 0; i < n; i++) {
            v[i] = b2t * v[i] + (1 - b2t) * ((double)g[i] * g[i] + e);
            u[i] = g[i] / sqrt(v[i]);
        }
    }
    double ss = 0;
    for (int i = 0; i < n; i++) ss += u[i] * u[i];
    double clip = fmax(1.0, sqrt(ss / n) / cfg->clip_threshold);
    for (int i = 0; i < n; i++) {
        double d = u[i] / clip;
        if (cfg->beta1 > 0) { m[i] = cfg->beta1 * m[i] + (1 - cfg->beta1) * d; d = m[i]; }
        p[i] = p[i] * (1 - cfg->lr * cfg->weight_decay) - cfg->lr * d;
    }
    free(u);
}

static void run_case(int ndim, const int64_t *shape, double beta1, double threshold, uint64_t seed)
{
    rp_optim_config cfg;
    rp_optim_defaults(&cfg, RP_OPT_ADAFACTOR);
    cfg.lr = 0.05; cfg.beta1 = beta1; cfg.weight_decay = 0.1; cfg.clip_threshold = threshold;
    rp_tensor *p = rp_empty(RP_F32, ndim, shape);
    rp_generator gen;
    rp_generator_seed(&gen, seed);
    rp_fill_normal(p, &gen, 0, 1);
    int64_t n = rp_numel(p);
    int cols = (int)shape[ndim - 1], rows = ndim >= 2 ? (int)(n / cols) : 0;
    double *pd = malloc(sizeof(double) * (size_t)n), *m = calloc((size_t)n, sizeof(double));
    double *v = calloc((size_t)n, sizeof(double)), *r = calloc((size_t)(rows + 1), sizeof(double));
    double *c = calloc((size_t)cols, sizeof(double));
    for (int64_t i = 0; i < n; i++) pd[i] = RP_F32P(p)[i];
    rp_optim_state *st = rp_optim_state_new(&cfg, p);
    CHECK(st != NULL);
    rp_tensor *g = rp_empty(RP_F32, ndim, shape);
    double worst = 0;
    for (int t = 1; t <= 5; t++) {
        rp_fill_normal(g, &gen, 0, 1);
        for (int64_t i = 0; i < n; i++) RP_F32P(g)[i] *= (float)(1 + (i % 3)); /* uneven scales */
        CHECK(rp_optim_step(p, g, st, &cfg) == 0);
        reference_step(pd, r, c, v, m, RP_F32P(g), rows, cols, t, &cfg);
        for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(pd[i] - RP_F32P(p)[i]) / (fabs(pd[i]) + 1e-3));
    }
    printf("adafactor ndim %d, beta1 %g, clip_threshold %g: max rel err %.2g\n", ndim, beta1, threshold, worst);
    CHECK_NEAR(0, worst, 2e-5);
    free(pd); free(m); free(v); free(r); free(c);
    rp_optim_state_free(st);
    rp_tensor_release(p); rp_tensor_release(g);
}

int main(void)
{
    int64_t mat[2] = {4, 6}, vec[1] = {7}, cube[3] = {2, 3, 5};
    run_case(2, mat, 0.9, 0.5, 1);  /* clipping active: RMS(u) is about 1 */
    run_case(2, mat, 0.0, 1.0, 2);  /* defaults: no momentum */
    run_case(1, vec, 0.9, 0.5, 3);
    run_case(3, cube, 0.0, 0.25, 4);
    return check_report("test_adafactor");
}
