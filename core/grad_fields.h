/* grad_fields.h: the autograd fields every tensor carries, apart from the
 * storage and view fields (tensor.h) and from the tape that fills them
 * (autograd.h).
 *
 * A tensor owns a reference to the node that produced it. Every node begins
 * with an rp_node_head holding its release function, so tensor.c drops that
 * reference without calling into autograd.c: the tensor layer sits below
 * autograd and the two files do not depend on each other both ways. */
#ifndef RP_GRAD_FIELDS_H
#define RP_GRAD_FIELDS_H

#include <stdbool.h>

struct rp_tensor;
struct rp_node;

/* First member of struct rp_node (autograd.h). */
typedef struct rp_node_head {
    void (*release)(struct rp_node *n);
} rp_node_head;

/* Drop a reference to a node (NULL is fine). */
static inline void rp_node_drop(struct rp_node *n)
{
    if (n) ((rp_node_head *)(void *)n)->release(n);
}

/* Inside struct rp_tensor. */
#define RP_GRAD_FIELDS                                                             \
    bool requires_grad;        /* leaf that wants .grad, or result of a tracked op */ \
    struct rp_tensor *grad;    /* accumulated gradient of a leaf (owned ref) or NULL */ \
    struct rp_node *grad_fn;   /* node that produced this tensor (owned ref) or NULL */

#endif
