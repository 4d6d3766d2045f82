/* autograd.h: an eager tape. Every differentiable op that sees an input with
 * requires_grad (while grad mode is on) attaches a node to its output. The
 * node keeps references to its inputs (the graph's edges) and detached aliases
 * of what backward needs (saved tensors never point back at the output's node,
 * so the graph has no cycles and refcounting frees it).
 */
#ifndef RP_AUTOGRAD_H
#define RP_AUTOGRAD_H

#include "tensor.h"

#define RP_NODE_MAXIN 4
#define RP_NODE_MAXSAVED 6

typedef struct rp_node rp_node;

/* Compute the gradients of the node's inputs from grad_out (same shape as the
 * node's output). For each input i with grad_in != NULL slot, store a NEW
 * tensor of the input's shape in grad_in[i] (or leave NULL for no gradient).
 * Returns 0 or -1 with error. */
typedef int (*rp_backward_fn)(rp_node *n, const rp_tensor *grad_out,
                              rp_tensor *grad_in[RP_NODE_MAXIN]);

struct rp_node {
    rp_node_head head;                      /* first: how a tensor drops its node (grad_fields.h) */
    const char *name;                       /* op name for error messages */
    rp_backward_fn backward;
    int ninputs;
    rp_tensor *inputs[RP_NODE_MAXIN];       /* owned refs; NULL for non-tensor args */
    bool needs_grad[RP_NODE_MAXIN];         /* input requires grad */
    int nsaved;
    rp_tensor *saved[RP_NODE_MAXSAVED];     /* owned refs, detached aliases */
    uint64_t saved_version[RP_NODE_MAXSAVED];
    double dargs[8];                        /* op parameters */
    int64_t iargs[RP_MAXDIM * 2 + 4];
    int64_t out_shape[RP_MAXDIM];
    int out_ndim;
    void *ctx;                              /* op-specific extra state */
    void (*free_ctx)(void *ctx);
    int refcount;
    bool released;                          /* saved tensors freed by backward */
    /* engine scratch */
    rp_tensor *pending;                     /* gradient accumulated for the output */
    int deps;
    uint64_t visit;
};

/* Is grad mode on for this thread (default true)? */
bool rp_grad_enabled(void);
/* Set grad mode; returns the previous value. */
bool rp_set_grad_enabled(bool on);

/* Does an op with these inputs need a node? (grad mode on and any input requires grad) */
bool rp_needs_grad(int n, const rp_tensor *const *inputs);

/* Create a node with refcount 1 for output `out`, referencing inputs; sets
 * out->grad_fn (taking the node's reference) and out->requires_grad. Returns
 * the node so the op can save tensors/args, or NULL on error. */
rp_node *rp_node_attach(rp_tensor *out, const char *name, rp_backward_fn fn,
                        int ninputs, rp_tensor *const *inputs);
/* The usual end of a differentiable op: when an input needs a gradient,
 * attach a node for out (inputs in, saving the non-NULL tensors of save) and
 * store it in *node_out if given (NULL when no node was needed); returns out,
 * or NULL after releasing out when attaching or saving fails. */
rp_tensor *rp_record(rp_tensor *out, const char *name, rp_backward_fn fn, int nin,
                     const rp_tensor *const *in, int nsave, const rp_tensor *const *save,
                     rp_node **node_out);
/* Save a detached alias of t in the node (slot = next free); -1 on error. */
int rp_node_save(rp_node *n, const rp_tensor *t);
void rp_node_retain(rp_node *n);
void rp_node_release(rp_node *n);

/* A new header sharing t's storage, with no grad_fn and requires_grad false. */
rp_tensor *rp_detach(const rp_tensor *t);

/* Run backward from root. grad may be NULL only when root has one element
 * (then it is 1). Leaves with requires_grad accumulate into ->grad. Unless
 * retain_graph, saved tensors are released and a second backward through the
 * same nodes is an error. */
int rp_backward(rp_tensor *root, const rp_tensor *grad, bool retain_graph);

/* Reduce g (broadcast result) by summation to shape (ndim, shape): used by
 * backward of broadcasting ops. Returns a new tensor. */
rp_tensor *rp_sum_to_shape(const rp_tensor *g, int ndim, const int64_t *shape);

#endif
