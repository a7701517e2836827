/* The CPU reference executor: runs the prepared graph node by node with the op
 * definitions' kernels. Activation memory is planned once per build (values
 * whose lifetimes do not overlap share memory), weights are prepacked by the ops'
 * prepare(), and run time allocates nothing. One fusion: Sigmoid followed by
 * Mul(x, sigmoid(x)) (SiLU, 78 times in YOLO11n) runs as one pass with the
 * same arithmetic, so results are bit-identical to the two nodes.
 *
 * With a plan it simulates an engine exactly (DESIGN.md "Numerics"): FP16 nodes
 * read FP16-rounded inputs (their constants are rounded once, in the graph copy
 * of core/exec_sim.c) and round their outputs to FP16; INT8 nodes run the op's
 * exact INT8 form (run_int8) or, for ops without one, read fake-quantized
 * activations (q * scale) and compute in FP32; their outputs are FP16 too.
 *
 * For sensitivity sweeps, the executor keeps the value lifetimes and, with a plan,
 * a signature of what each step computes: a variant plan resumes from the live
 * values a base plan left before the first step where their signatures differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "exec.h"
#include "exec_sim.h"
#include "fpenv.h"
#include "ops/act.h"
#include "quant.h"

#define ALIGN 64

/* An input a simulated node reads converted: rounded to FP16 (scale 0) or
 * fake-quantized with scale, from the stored value into the step's buffer. */
struct prep {
    int k, value;
    float scale;
    size_t offset;               /* in the executor's prep buffer */
};

struct node_rt {
    const struct qb_node *node;
    void *state;
    struct qb_tview *in, *out;   /* views into the executor's arrays */
    int silu_x, silu_y;          /* fused SiLU: value indices; node is the Sigmoid */
    enum qb_prec prec;
    bool int8;                   /* runs the op's run_int8 with in_scale */
    float *in_scale;
    struct prep *prep;
    int n_prep;
};

struct qb_executor {
    const struct qb_graph *g;
    const struct qb_graph *src;  /* the graph given to qb_exec_new(); g is its plan copy */
    struct qb_pool *pool;
    unsigned char *mem;          /* planned activation memory */
    size_t mem_bytes;
    void *scratch;
    size_t scratch_bytes;
    struct qb_tview *views;      /* one per graph value */
    struct node_rt *nodes;       /* n_steps entries */
    int n_steps;
    int *first, *last;           /* per value: steps of definition and last use (-1: before step 0, -2: none) */
    int *node_step;              /* per node: the step that runs it, or -1 */
    uint64_t *sig;               /* plan simulation: per step, what it computes (qb_exec_first_diff) */
    int n_fused;                 /* SiLU pairs run as one step */
    struct qb_tview *slots;      /* in/out views of all nodes, back to back */
    qb_exec_observe_fn observe;
    void *observe_user;
    struct qb_arena *sim;        /* plan simulation: the graph copy, per-node tables */
    bool *fused;                 /* plan simulation: per value, kept FP32 inside a pointwise chain */
    float *prep_buf;
    size_t prep_bytes;
    char desc[96];
};

static size_t data_bytes(const struct qb_value *v)
{
    return (size_t)qb_value_numel(v) * qb_dtype_size(v->dtype);
}

static size_t value_bytes(const struct qb_value *v)
{
    return (data_bytes(v) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

struct interval {
    int value;
    int first, last;   /* step of definition and of last use (inclusive) */
    size_t size, offset;
};

static int by_size_desc(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->value - y->value;
}

/* Greedy by size: place each buffer at the lowest offset that does not collide with
 * an already placed buffer whose lifetime overlaps. */
static size_t plan_memory(struct interval *iv, int n)
{
    size_t total = 0;
    qsort(iv, (size_t)n, sizeof(*iv), by_size_desc);
    for (int i = 0; i < n; i++) {
        size_t off = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < i; j++) {
                if (iv[j].last < iv[i].first || iv[i].last < iv[j].first)
                    continue;
                if (off < iv[j].offset + iv[j].size && iv[j].offset < off + iv[i].size) {
                    off = iv[j].offset + iv[j].size;
                    again = 1;
                }
            }
        }
        iv[i].offset = off;
        if (off + iv[i].size > total)
            total = off + iv[i].size;
    }
    return total;
}

static void view_init(struct qb_tview *t, const struct qb_value *v, void *data)
{
    t->dtype = v->dtype;
    t->ndim = v->ndim;
    for (int i = 0; i < v->ndim; i++)
        t->shape[i] = v->shape[i];
    t->data = data;
}

static bool same_shape(const struct qb_value *a, const struct qb_value *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

/* If order[s] is a float Sigmoid whose only reader is a Mul of its own input
 * and itself, returns that Mul's position in the order; else -1. */
static int silu_partner(const struct qb_graph *g, const int *readers, const int *reader_pos, int s)
{
    const struct qb_node *sig = &g->nodes[g->order[s]];
    int x, y, p;
    const struct qb_node *mul;

    if (strcmp(sig->op_type, "Sigmoid") != 0 || sig->n_out != 1 || sig->out[0] < 0)
        return -1;
    x = sig->in[0];
    y = sig->out[0];
    if (g->values[x].dtype != QB_DTYPE_F32 || readers[y] != 1 || (g->values[y].flags & QB_VALUE_OUTPUT))
        return -1;
    p = reader_pos[y];
    mul = &g->nodes[g->order[p]];
    if (strcmp(mul->op_type, "Mul") != 0 || mul->n_in != 2 || mul->out[0] < 0)
        return -1;
    if (!((mul->in[0] == x && mul->in[1] == y) || (mul->in[0] == y && mul->in[1] == x)))
        return -1;
    if (!same_shape(&g->values[x], &g->values[mul->out[0]]))
        return -1;
    return p;
}

/* The steps to run: runtime nodes in order, with SiLU pairs fused. */
static enum qb_status plan_steps(const struct qb_graph *g, struct qb_executor *e, bool fuse, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    int *readers = calloc((size_t)g->n_values + 1, sizeof(int));
    int *reader_pos = calloc((size_t)g->n_values + 1, sizeof(int));
    bool *skip = calloc((size_t)g->n_order + 1, sizeof(bool));

    e->nodes = calloc((size_t)g->n_order + 1, sizeof(*e->nodes));
    if (!readers || !reader_pos || !skip || !e->nodes) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory building the CPU executor", g->path);
        goto out;
    }
    for (int s = 0; s < g->n_order; s++) {
        const struct qb_node *n = &g->nodes[g->order[s]];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) {
                readers[n->in[k]]++;
                reader_pos[n->in[k]] = s;
            }
    }
    e->n_steps = 0;
    for (int s = 0; s < g->n_order; s++) {
        struct node_rt *rt;
        int p;
        if (skip[s])
            continue;
        rt = &e->nodes[e->n_steps++];
        rt->node = &g->nodes[g->order[s]];
        rt->silu_x = rt->silu_y = -1;
        if (fuse && (p = silu_partner(g, readers, reader_pos, s)) >= 0) {
            skip[p] = true;
            e->n_fused++;
            rt->silu_x = rt->node->in[0];
            rt->silu_y = g->nodes[g->order[p]].out[0];
        }
    }
out:
    free(readers);
    free(reader_pos);
    free(skip);
    return st;
}

static bool is_activation(const struct qb_graph *g, const struct qb_node *n, int k)
{
    const struct qb_value *v = qb_node_in(g, n, k);
    return v && v->dtype == QB_DTYPE_F32 && !(v->flags & QB_VALUE_CONST);
}

/* The scale an INT8 node quantizes input k with; the calibration must cover it. */
static enum qb_status input_scale(const struct qb_executor *e, const struct qb_node *n, int k, const float *amax,
                                  float *scale, struct qb_error *err)
{
    int v = n->in[k];
    if (!amax || !(amax[v] >= 0) || isinf(amax[v]))
        return qb_node_errorf(e->g, n, err, QB_ERR_INVALID,
                              "runs INT8 but its input '%s' has no calibrated range (amax); calibrate "
                              "with this model (qbench calib) or keep the node in FP16",
                              e->g->values[v].name);
    *scale = qb_quant_scale(amax[v]);
    return QB_OK;
}

/* Simulation tables of one step: its precision, INT8 input scales, and which
 * inputs it reads converted (into the shared prep buffer, sized here). */
static enum qb_status sim_step(struct qb_executor *e, struct node_rt *rt, const struct qb_exec_opts *opts,
                               struct qb_error *err)
{
    const struct qb_graph *g = e->g;
    const struct qb_node *n = rt->node;
    const enum qb_prec *prec = opts->prec;
    size_t offset = 0;
    enum qb_status st;

    rt->prec = prec[n - g->nodes];
    rt->int8 = rt->prec == QB_PREC_INT8 && n->def->run_int8 && n->def->prepare_int8;
    rt->in_scale = qb_arena_calloc(e->sim, (size_t)n->n_in + 1, sizeof(float));
    rt->prep = qb_arena_calloc(e->sim, (size_t)n->n_in + 1, sizeof(*rt->prep));
    if (!rt->in_scale || !rt->prep)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory building the plan simulation", g->path);
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v;
        float scale = 0;
        /* the exact INT8 forms read their bias (Conv's B, Gemm's C) as float */
        if (!is_activation(g, n, k) || (rt->int8 && k >= 2))
            continue;
        v = &g->values[n->in[k]];
        if (rt->prec == QB_PREC_INT8) {
            if ((st = input_scale(e, n, k, opts->amax, &scale, err)) != QB_OK)
                return st;
            if (rt->int8) {
                rt->in_scale[k] = scale;
                continue;
            }
        } else if (rt->prec != QB_PREC_FP16 || (v->producer >= 0 && prec[v->producer] != QB_PREC_FP32)) {
            continue; /* FP32 nodes read values as stored; FP16 nodes read FP16 (or fused FP32) */
        }
        rt->prep[rt->n_prep++] = (struct prep){.k = k, .value = n->in[k], .scale = scale, .offset = offset};
        offset += value_bytes(v);
    }
    if (offset > e->prep_bytes)
        e->prep_bytes = offset;
    return QB_OK;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h + 0x9e3779b97f4a7c15ull;
}

static uint64_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

/* Everything that decides what a simulated step computes from the values it reads:
 * its node, precision and form, INT8 scales, input conversions, and which outputs
 * it rounds to FP16. Equal signatures on equal inputs give equal outputs. */
static uint64_t step_sig(const struct qb_executor *e, const struct node_rt *rt)
{
    const struct qb_node *n = rt->node;
    uint64_t h = mix(0, (uint64_t)(n - e->g->nodes)), rounded = 0;

    h = mix(h, (uint64_t)rt->prec << 1 | rt->int8);
    for (int k = 0; k < n->n_in; k++)
        h = mix(h, float_bits(rt->in_scale[k]));
    for (int i = 0; i < rt->n_prep; i++)
        h = mix(mix(h, (uint64_t)rt->prep[i].k), float_bits(rt->prep[i].scale));
    for (int k = 0; k < n->n_out && k < 64; k++)
        if (n->out[k] >= 0 && rt->prec != QB_PREC_FP32 && rt->out[k].dtype == QB_DTYPE_F32 && !e->fused[n->out[k]])
            rounded |= 1ull << k;
    return mix(mix(h, (uint64_t)rt->n_prep), rounded);
}

enum qb_status qb_exec_new(const struct qb_graph *g, const struct qb_exec_opts *opts, struct qb_executor **out,
                           struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct qb_executor *e = NULL;
    struct interval *iv = NULL;
    int *first, *last, n_iv = 0, n_slots = 0;
    const char *device = opts && opts->device ? opts->device : "cpu";

    *out = NULL;
    if (!g->prepared)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: executor built on an unprepared graph", g->path);
    if (strcmp(device, "cpu") != 0)
        return qb_errorf(err, QB_ERR_USAGE, "unknown device '%s' (available: cpu)", device);
    if (!(e = calloc(1, sizeof(*e))))
        goto nomem;
    e->src = g;
    if (opts && opts->prec) {
        struct qb_graph *sg;
        if (!(e->sim = qb_arena_new()))
            goto nomem;
        if ((st = qb_sim_graph(g, opts->prec, e->sim, &sg, err)) != QB_OK)
            goto out;
        if (!(e->fused = qb_sim_fused(sg, opts->prec, e->sim)))
            goto nomem;
        g = sg; /* the executor runs the copy from here on */
    }
    first = e->first = malloc(((size_t)g->n_values + 1) * sizeof(int));
    last = e->last = malloc(((size_t)g->n_values + 1) * sizeof(int));
    e->node_step = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    iv = calloc((size_t)g->n_values + 1, sizeof(*iv));
    e->views = calloc((size_t)g->n_values + 1, sizeof(*e->views));
    if (!first || !last || !e->node_step || !iv || !e->views)
        goto nomem;
    e->g = g;

    if (opts) {
        e->observe = opts->observe;
        e->observe_user = opts->observe_user;
    }
    if ((st = plan_steps(g, e, !(opts && (opts->no_fusion || opts->observe || opts->prec)), err)) != QB_OK)
        goto out;
    for (int i = 0; i < g->n_nodes; i++)
        e->node_step[i] = -1;
    for (int s = 0; s < e->n_steps; s++)
        e->node_step[e->nodes[s].node - g->nodes] = s;
    if (e->sim && !(e->sig = qb_arena_calloc(e->sim, (size_t)e->n_steps + 1, sizeof(uint64_t))))
        goto nomem;

    /* lifetimes in steps: inputs live from step -1, outputs to the end */
    for (int v = 0; v < g->n_values; v++)
        first[v] = last[v] = -2;
    for (int i = 0; i < g->n_inputs; i++)
        first[g->inputs[i]] = last[g->inputs[i]] = -1;
    for (int s = 0; s < e->n_steps; s++) {
        const struct node_rt *rt = &e->nodes[s];
        const struct qb_node *n = rt->node;
        if (rt->silu_y >= 0) {
            last[rt->silu_x] = s;
            first[rt->silu_y] = last[rt->silu_y] = s;
            continue;
        }
        n_slots += n->n_in + n->n_out;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !(g->values[n->in[k]].flags & QB_VALUE_CONST))
                last[n->in[k]] = s;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                first[n->out[k]] = last[n->out[k]] = s;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (first[g->outputs[i]] >= -1)
            last[g->outputs[i]] = e->n_steps;
    for (int v = 0; v < g->n_values; v++) {
        if (first[v] < -1 || (g->values[v].flags & QB_VALUE_CONST))
            continue;
        iv[n_iv].value = v;
        iv[n_iv].first = first[v];
        iv[n_iv].last = last[v];
        iv[n_iv].size = value_bytes(&g->values[v]);
        n_iv++;
    }
    e->mem_bytes = plan_memory(iv, n_iv);
    e->mem = aligned_alloc(ALIGN, e->mem_bytes ? e->mem_bytes : ALIGN);
    if (!e->mem)
        goto nomem;
    memset(e->mem, 0, e->mem_bytes);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].flags & QB_VALUE_CONST)
            view_init(&e->views[v], &g->values[v], g->values[v].data);
    for (int i = 0; i < n_iv; i++)
        view_init(&e->views[iv[i].value], &g->values[iv[i].value], e->mem + iv[i].offset);

    /* per-node views and prepared state */
    e->slots = calloc((size_t)n_slots + 1, sizeof(*e->slots));
    if (!e->slots)
        goto nomem;
    for (int s = 0, k0 = 0; s < e->n_steps; s++) {
        struct node_rt *rt = &e->nodes[s];
        const struct qb_node *n = rt->node;
        size_t scratch = 0;
        if (rt->silu_y >= 0)
            continue;
        rt->in = &e->slots[k0];
        rt->out = &e->slots[k0 + n->n_in];
        k0 += n->n_in + n->n_out;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                rt->in[k] = e->views[n->in[k]];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                rt->out[k] = e->views[n->out[k]];
        if (e->sim) {
            if ((st = sim_step(e, rt, opts, err)) != QB_OK)
                goto out;
            e->sig[s] = step_sig(e, rt);
        }
        if (rt->int8) {
            if ((st = n->def->prepare_int8(g, n, &rt->state, &scratch, err)) != QB_OK)
                goto out;
        } else if (n->def->prepare && (st = n->def->prepare(g, n, &rt->state, &scratch, err)) != QB_OK) {
            goto out;
        }
        if (scratch > e->scratch_bytes)
            e->scratch_bytes = scratch;
    }
    if (e->scratch_bytes && !(e->scratch = aligned_alloc(ALIGN, (e->scratch_bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1))))
        goto nomem;
    if (e->prep_bytes && !(e->prep_buf = aligned_alloc(ALIGN, e->prep_bytes)))
        goto nomem;
    for (int s = 0; s < e->n_steps; s++)
        for (int i = 0; i < e->nodes[s].n_prep; i++) {
            const struct prep *p = &e->nodes[s].prep[i];
            e->nodes[s].in[p->k].data = (unsigned char *)e->prep_buf + p->offset;
        }
    e->pool = qb_pool_new(opts ? opts->n_threads : 0);
    if (!e->pool)
        goto nomem;
    if (e->sim) {
        int count[3] = {0};
        for (int s = 0; s < e->n_steps; s++)
            count[e->nodes[s].prec]++;
        snprintf(e->desc, sizeof(e->desc), "cpu simulation, %d INT8 + %d FP16 + %d FP32 nodes, %d thread%s",
                 count[QB_PREC_INT8], count[QB_PREC_FP16], count[QB_PREC_FP32], qb_pool_size(e->pool),
                 qb_pool_size(e->pool) == 1 ? "" : "s");
    } else {
        snprintf(e->desc, sizeof(e->desc), "cpu fp32, %d thread%s, %d SiLU fused", qb_pool_size(e->pool),
                 qb_pool_size(e->pool) == 1 ? "" : "s", e->n_fused);
    }
    *out = e;
    e = NULL;
    goto out;
nomem:
    st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory building the CPU executor", g->path);
out:
    qb_exec_free(e);
    free(iv);
    return st;
}

void qb_exec_free(struct qb_executor *e)
{
    if (!e)
        return;
    if (e->nodes)
        for (int s = 0; s < e->n_steps; s++) {
            const struct qb_op_def *def = e->nodes[s].node->def;
            void (*release)(void *) = e->nodes[s].int8 ? def->release_int8 : def->release;
            if (e->nodes[s].state && release)
                release(e->nodes[s].state);
        }
    qb_pool_free(e->pool);
    qb_arena_free(e->sim);
    free(e->prep_buf);
    free(e->mem);
    free(e->scratch);
    free(e->views);
    free(e->nodes);
    free(e->slots);
    free(e->first);
    free(e->last);
    free(e->node_step);
    free(e);
}

struct qb_tview *qb_exec_input(struct qb_executor *e, int i)
{
    return &e->views[e->g->inputs[i]];
}

const struct qb_tview *qb_exec_output(const struct qb_executor *e, int i)
{
    return &e->views[e->g->outputs[i]];
}

const char *qb_exec_describe(const struct qb_executor *e)
{
    return e->desc;
}

size_t qb_exec_activation_bytes(const struct qb_executor *e)
{
    return e->mem_bytes;
}

static enum qb_status run_steps(struct qb_executor *e, int from, int to, struct qb_error *err)
{
    struct qb_kctx ctx = {.pool = e->pool, .scratch = e->scratch, .scratch_size = e->scratch_bytes, .graph = e->g};

    if (e->observe && from == 0)
        for (int i = 0; i < e->g->n_inputs; i++)
            if (e->views[e->g->inputs[i]].dtype == QB_DTYPE_F32)
                e->observe(e->observe_user, e->g->inputs[i], &e->views[e->g->inputs[i]]);

    for (int s = from; s < to; s++) {
        struct node_rt *rt = &e->nodes[s];
        enum qb_status st;
        if (rt->silu_y >= 0) {
            const struct qb_tview *x = &e->views[rt->silu_x];
            qb_act_silu(e->pool, x->data, e->views[rt->silu_y].data, qb_tview_numel(x));
            continue;
        }
        ctx.state = rt->state;
        for (int i = 0; i < rt->n_prep; i++) {
            const struct prep *p = &rt->prep[i];
            const float *x = e->views[p->value].data;
            float *y = rt->in[p->k].data;
            size_t count = (size_t)qb_tview_numel(&rt->in[p->k]);
            if (p->scale > 0)
                qb_quant_fake(x, y, count, p->scale);
            else
                qb_fp16_round(x, y, count);
        }
        if (rt->int8)
            st = rt->node->def->run_int8(rt->node, rt->in, rt->in_scale, rt->out, &ctx);
        else
            st = rt->node->def->run(rt->node, rt->in, rt->out, &ctx);
        if (st != QB_OK)
            return qb_node_errorf(e->g, rt->node, err, st, "failed at run time: %s", qb_status_str(st));
        if (rt->prec != QB_PREC_FP32)
            for (int k = 0; k < rt->node->n_out; k++)
                if (rt->node->out[k] >= 0 && rt->out[k].dtype == QB_DTYPE_F32 && !e->fused[rt->node->out[k]])
                    qb_fp16_round(rt->out[k].data, rt->out[k].data, (size_t)qb_tview_numel(&rt->out[k]));
        if (e->observe)
            for (int k = 0; k < rt->node->n_out; k++)
                if (rt->node->out[k] >= 0 && rt->out[k].dtype == QB_DTYPE_F32)
                    e->observe(e->observe_user, rt->node->out[k], &rt->out[k]);
    }
    return QB_OK;
}

enum qb_status qb_exec_run(struct qb_executor *e, struct qb_error *err)
{
    unsigned fpenv = qb_fpenv_flush_begin();
    enum qb_status st = run_steps(e, 0, e->n_steps, err);
    qb_fpenv_flush_end(fpenv);
    return st;
}

/* Reuse ---------------------------------------------------------------------------- */

int qb_exec_n_steps(const struct qb_executor *e)
{
    return e->n_steps;
}

int qb_exec_first_diff(const struct qb_executor *a, const struct qb_executor *b)
{
    if (!a->sig || !b->sig || a->src != b->src || a->n_steps != b->n_steps)
        return 0;
    for (int s = 0; s < a->n_steps; s++)
        if (a->nodes[s].node - a->g->nodes != b->nodes[s].node - b->g->nodes || a->sig[s] != b->sig[s])
            return s;
    return a->n_steps;
}

/* Stored before step s and read at or after it (graph outputs are read "at the end"). */
static bool live_across(const struct qb_executor *e, int v, int s)
{
    return !(e->g->values[v].flags & QB_VALUE_CONST) && e->first[v] >= -1 && e->first[v] < s && e->last[v] >= s;
}

size_t qb_exec_live_bytes(const struct qb_executor *e, int s)
{
    size_t bytes = 0;
    for (int v = 0; v < e->g->n_values; v++)
        if (live_across(e, v, s))
            bytes += data_bytes(&e->g->values[v]);
    return bytes;
}

void qb_exec_save_live(const struct qb_executor *e, int s, void *buf)
{
    unsigned char *p = buf;
    for (int v = 0; v < e->g->n_values; v++)
        if (live_across(e, v, s)) {
            size_t b = data_bytes(&e->g->values[v]);
            memcpy(p, e->views[v].data, b);
            p += b;
        }
}

/* Live values never share memory (their lifetimes overlap), so the order of the copies does not matter. */
void qb_exec_load_live(struct qb_executor *e, int s, const void *buf)
{
    const unsigned char *p = buf;
    for (int v = 0; v < e->g->n_values; v++)
        if (live_across(e, v, s)) {
            size_t b = data_bytes(&e->g->values[v]);
            memcpy(e->views[v].data, p, b);
            p += b;
        }
}

enum qb_status qb_exec_run_steps(struct qb_executor *e, int from, int to, struct qb_error *err)
{
    unsigned fpenv;
    enum qb_status st;

    if (from < 0 || from > to || to > e->n_steps)
        return qb_errorf(err, QB_ERR_USAGE, "%s: steps [%d, %d) are not a range of the executor's %d steps",
                         e->g->path, from, to, e->n_steps);
    fpenv = qb_fpenv_flush_begin();
    st = run_steps(e, from, to, err);
    qb_fpenv_flush_end(fpenv);
    return st;
}

int qb_exec_node_step(const struct qb_executor *e, int node)
{
    return node >= 0 && node < e->src->n_nodes ? e->node_step[node] : -1;
}

const struct qb_tview *qb_exec_value(const struct qb_executor *e, int v)
{
    if (v < 0 || v >= e->src->n_values || (e->g->values[v].flags & QB_VALUE_CONST) || e->first[v] < -1)
        return NULL;
    return &e->views[v];
}
