/* optim.h: first- and second-order optimizers on contiguous f32 parameters.
 *
 * One rp_optim_config describes the optimizer and its hyper-parameters; each
 * parameter tensor has its own rp_optim_state, a list of named state tensors
 * (so state_dict/load_state_dict are generic) plus two counters. A step reads
 * the gradient, updates the state and writes the parameter in place.
 *
 * Semantics (see each kind below):
 *  - sgd:      PyTorch SGD (momentum, dampening, nesterov, L2 weight decay added to g).
 *  - adamw:    PyTorch AdamW: p -= lr*wd*p; m,v EMAs; p -= lr/bc1 * m/(sqrt(v)/sqrt(bc2) + eps).
 *  - adafactor: Shazeer & Stern 2018, factored v for >= 2-d (rows x last dim),
 *              beta2_t = 1 - t^decay_rate, update clipping at clip_threshold (RMS),
 *              optional momentum beta1 (0 = none), explicit lr (no relative step,
 *              no parameter scaling), decoupled weight decay p -= lr*wd*p.
 *  - shampoo:  L,R EMAs of G Gᵀ, Gᵀ G (beta = shampoo_beta, or beta2 if < 0);
 *              at step s = start_preconditioning_step (-1: s = precondition_frequency)
 *              and every precondition_frequency steps after, the roots
 *              (L + e I)^exponent, (R + e I)^exponent by eigh; e = matrix_eps * λmax
 *              (matrix_eps_relative) or, as DistributedShampoo, the factor divided
 *              by 1 - beta^t, eigenvalues shifted to >= 0, e = matrix_eps;
 *              direction Lr · m̂ · Rr with m̂ the bias-corrected momentum, grafted
 *              per layer to the norm of AdamW's update m̂/(sqrt(v̂)+eps); steps
 *              before s take AdamW's update itself (the grafting method);
 *              decoupled weight decay p -= lr*wd*p first. Dims > max_precond_dim
 *              and 1-d parameters use the identity on that side.
 *  - soap:     nikhilvyas/SOAP soap.py at commit f42d296c, which is the
 *              December 2024 change (2024-12-02: the first moment kept in the
 *              eigenbasis; tests/fixtures/soap holds its trajectories); with Q
 *              orthogonal it equals the paper's Algorithm 3,
 *              step for step: exp_avg is kept in the
 *              rotated (eigen) basis and carried to the new basis when Q changes.
 *              Step 1 only accumulates GG and sets Q = eigh (descending);
 *              step t > 1: G' = project(G); m,v Adam EMAs of G' (state step
 *              counter counts these updates); N = project_back(m/(sqrt v + eps));
 *              p -= lr*sqrt(1-β2^t)/(1-β1^t) * N; p -= lr*wd*p; GG EMA with G;
 *              every precondition_frequency updates: est = diag(QᵀPQ), sort
 *              descending, permute v, Q = QR(P Q[:,perm]).
 *              The official code projects exp_avg back and forth on every
 *              step; with an unchanged orthonormal Q that is the identity, so it
 *              is done only when Q changes (same algorithm, fewer GEMMs).
 *
 * A non-finite gradient: rp_optim_step returns -1 ("non-finite gradient")
 * before touching the parameter or the state (the step is refused, the
 * caller decides whether to skip it).
 */
#ifndef RP_OPTIM_H
#define RP_OPTIM_H

#include "tensor.h"
#include "fp8.h"

typedef enum { RP_OPT_SGD = 0, RP_OPT_ADAMW, RP_OPT_ADAFACTOR, RP_OPT_SHAMPOO, RP_OPT_SOAP, RP_OPT_NKINDS } rp_optim_kind;

/* Storage format of a moment buffer: an ordinary format of fp8.h's table
 * (bf16, or any format with codes) or RP_MOM_F32. Coded moments (e4m3fn,
 * e5m2, e2m1fn, ...) are 1-byte codes with a per-tensor scale (code =
 * encode(value * scale), scale = fmt_max / amax of the new moment, recomputed
 * every step); bf16 moments are 2-byte codes (u8 tensor of 2*numel bytes,
 * round-to-nearest-even). */
typedef int rp_moment_format;
#define RP_MOM_F32 RP_NFMT            /* plain f32 (no cast): past the format table */
#define RP_MOM_BF16 RP_FMT_BF16
#define RP_MOM_E4M3FN RP_FMT_E4M3FN
#define RP_MOM_E5M2 RP_FMT_E5M2

/* Format by name ("fp32"/"f32"/"float32", "bf16", or a format with codes); -1 if unknown. */
int rp_moment_format_from_name(const char *name);
/* Name of a moment format ("fp32", "bf16", "e4m3fn", ...); "?" if invalid (static). */
const char *rp_moment_format_name(rp_moment_format f);
/* Is f a moment format (fp32, bf16 or a format with codes)? */
bool rp_moment_format_valid(rp_moment_format f);
/* Is f stored as codes with a per-tensor scale? */
bool rp_moment_format_coded(rp_moment_format f);

typedef struct {
    rp_optim_kind kind;
    double lr, weight_decay, eps;
    double beta1, beta2;          /* adamw/soap/shampoo betas; sgd: unused */
    /* sgd */
    double momentum, dampening;
    bool nesterov;
    /* adafactor */
    double decay_rate;            /* -0.8 */
    double clip_threshold;        /* 1.0 */
    /* shampoo + soap */
    double shampoo_beta;          /* < 0: use beta2 */
    int precondition_frequency;
    int64_t max_precond_dim;
    double exponent;              /* shampoo: -0.25 per side, -0.5 variant */
    double matrix_eps;            /* shampoo: eigenvalue floor (relative or absolute) */
    bool matrix_eps_relative;     /* shampoo: e = matrix_eps*λmax (true) or DistributedShampoo's rule */
    int start_preconditioning_step; /* shampoo: first preconditioned step; -1: precondition_frequency */
    bool graft;                   /* shampoo: graft to AdamW's update norm */
    bool merge_dims, precondition_1d, normalize_grads, correct_bias; /* soap */
    /* low-precision moments (adamw, soap) */
    rp_moment_format m_format, v_format;
} rp_optim_config;

/* ---- the optimizer table ----
 * One entry per optimizer (optim.c's rp_optim_table, each entry defined in
 * the optimizer's own file optim_NAME.c): its name, its options (field,
 * type, default, accepted range), the rules across options, the layout of
 * its per-parameter state, and its step. Defaults, validation, the Lua
 * binding's option parsing, its error messages and cfg:get all read the
 * descriptors; adding an optimizer is one file with one entry plus its
 * line in the table and the enum. */
typedef enum { RP_OPTV_NUM, RP_OPTV_INT, RP_OPTV_I64, RP_OPTV_BOOL, RP_OPTV_FMT, RP_OPTV_BETAS } rp_optim_opt_type;
/* Range flags: the bounds lo/hi are inclusive unless marked open; NaN never passes. */
enum { RP_RANGE_LO_OPEN = 1, RP_RANGE_HI_OPEN = 2, RP_RANGE_FINITE = 4, RP_RANGE_OR_MINUS1 = 8 };

typedef struct {
    const char *name;          /* Lua option name */
    rp_optim_opt_type type;
    size_t off;                /* field of rp_optim_config (betas: beta1; beta2 follows) */
    double def, def2;          /* default (betas: beta1, beta2; bool: 0/1; format: its index) */
    double lo, hi;             /* accepted range (numbers, integers, each beta) */
    unsigned range;            /* RP_RANGE_* */
    const char *valid;         /* the range in words: "NAME must be <valid>, got X" */
} rp_optim_opt;

struct rp_optim_state;
typedef struct {
    const char *name;
    const rp_optim_opt *opts;  /* in the order messages list them; ends with name NULL */
    /* Rules across options (sgd's nesterov), or NULL; -1 with an error. */
    int (*check)(const rp_optim_config *c);
    /* The per-parameter state: add its named buffers to st (zeroed). */
    int (*init)(struct rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p);
    /* One step on contiguous f32 p, g of one shape, config validated and g finite. */
    int (*step)(rp_tensor *p, const rp_tensor *g, struct rp_optim_state *st, const rp_optim_config *c);
} rp_optim_entry;

extern const rp_optim_entry *const rp_optim_table[RP_OPT_NKINDS];
/* Kind by name; -1 if unknown. */
int rp_optim_kind_from_name(const char *name);
/* "sgd, adamw, ..." for error messages (static string). */
const char *rp_optim_kind_names(void);
/* The descriptor of option `name` of kind, or NULL. */
const rp_optim_opt *rp_optim_find_opt(rp_optim_kind kind, const char *name);
/* Check one option's value in c against its descriptor; -1 with "KIND: NAME
 * must be VALID, got X". */
int rp_optim_check_opt(const rp_optim_config *c, const rp_optim_opt *o);

/* Fill cfg with the defaults of `kind` (the official/PyTorch defaults). */
void rp_optim_defaults(rp_optim_config *cfg, rp_optim_kind kind);
/* Validate hyper-parameters; -1 with an error naming the bad value. */
int rp_optim_check_config(const rp_optim_config *cfg);
/* Name of a kind ("sgd", ...). */
const char *rp_optim_kind_name(rp_optim_kind kind);

#define RP_OPTIM_MAXBUF 24
#define RP_OPTIM_NAMELEN 24

typedef struct rp_optim_state {
    rp_optim_kind kind;
    int64_t step;                 /* update counter (SOAP: Adam updates, as the official state['step']) */
    int64_t started;              /* SOAP: statistics-only first step done; shampoo: roots computed */
    int nbuf;
    char names[RP_OPTIM_MAXBUF][RP_OPTIM_NAMELEN];
    rp_tensor *buf[RP_OPTIM_MAXBUF]; /* owned; contiguous */
    /* geometry used by soap/shampoo (after merge_dims) */
    int ndim;
    int64_t shape[RP_MAXDIM];
    bool precond[RP_MAXDIM];      /* dimension has a GG / Q */
} rp_optim_state;

/* New state for parameter p (contiguous f32) under cfg; zeroed buffers.
 * Caller frees with rp_optim_state_free. NULL + error on failure. */
rp_optim_state *rp_optim_state_new(const rp_optim_config *cfg, const rp_tensor *p);
void rp_optim_state_free(rp_optim_state *st);    /* NULL is fine */
/* Bytes of state tensors (the optimizer's memory for this parameter). */
size_t rp_optim_state_bytes(const rp_optim_state *st);
/* Buffer by name or NULL. */
rp_tensor *rp_optim_state_get(const rp_optim_state *st, const char *name);

/* One step: p (contiguous f32) updated in place from g (same shape). Refuses
 * (returns -1, nothing modified) a non-finite gradient. Bumps p's version. */
int rp_optim_step(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *cfg);
/* rp_optim_step for a caller that has validated cfg (rp_optim_check_config,
 * once at construction) and checked g finite (once per step, over every
 * parameter): neither is done again here; shapes and dtypes still are. */
int rp_optim_step_checked(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *cfg);

/* Scan for NaN/Inf: index of the first non-finite element of x (n) or -1. */
int64_t rp_first_nonfinite_f32(const float *x, int64_t n);

/* ---- moment storage (optim_moments.c) ---- */

/* Allocate a moment buffer for numel values in fmt: an f32 tensor (numel) for
 * fp32, u8 (2*numel) for bf16, u8 (numel) for fp8. Zero-valued. */
rp_tensor *rp_moment_new(rp_moment_format fmt, int64_t numel, const int64_t *shape, int ndim);
/* Decode moment buf (scale: the 1-element f32 scale tensor or NULL) into out (n). */
int rp_moment_load(float *out, const rp_tensor *buf, const rp_tensor *scale, rp_moment_format fmt, int64_t n);
/* Encode x (n) into buf, recomputing the per-tensor scale for fp8 formats. */
int rp_moment_store(rp_tensor *buf, rp_tensor *scale, const float *x, rp_moment_format fmt, int64_t n);
/* Round-to-nearest-even f32 -> bf16 bits and back. */
uint16_t rp_f32_to_bf16_bits(float x);
float rp_bf16_bits_to_f32(uint16_t b);

/* ---- internals shared by the optimizer files (optim_state.c; not for bindings) ---- */
/* Add buffer t to st under name (takes the reference); returns it or NULL. */
rp_tensor *rp_optim_state_add(rp_optim_state *st, const char *name, rp_tensor *t);
/* A zeroed f32 vector of n elements. */
rp_tensor *rp_optim_zeros1(int64_t n);
/* A moment buffer named name for p in fmt and, for coded formats, its
 * NAME_scale (1 until the first store). */
int rp_optim_add_moment(rp_optim_state *st, const char *name, rp_moment_format fmt, const rp_tensor *p);
/* The NAME_scale buffer of a coded moment, or NULL. */
rp_tensor *rp_optim_moment_scale(const rp_optim_state *st, const char *name);

/* The entries, one per file optim_NAME.c. */
extern const rp_optim_entry rp_optim_sgd, rp_optim_adamw, rp_optim_adafactor, rp_optim_shampoo,
    rp_optim_soap;

#endif
