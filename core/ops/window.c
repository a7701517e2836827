/* Spatial-window attributes of Conv, ConvTranspose and the pools (window.h). */
#include "window.h"

#include <string.h>

#define SP QB_WINDOW_SP

static enum qb_status parse_auto_pad(const struct qb_graph *g, const struct qb_node *n, enum qb_auto_pad *ap,
                                     struct qb_error *err)
{
    static const char *const names[QB_AUTO_PAD_COUNT] = {
        [QB_AUTO_PAD_NOTSET] = "NOTSET", [QB_AUTO_PAD_SAME_UPPER] = "SAME_UPPER",
        [QB_AUTO_PAD_SAME_LOWER] = "SAME_LOWER", [QB_AUTO_PAD_VALID] = "VALID"};
    const char *s;
    enum qb_status st = qb_node_attr_string(g, n, "auto_pad", "NOTSET", &s, err);
    if (st != QB_OK)
        return st;
    for (int i = 0; i < QB_AUTO_PAD_COUNT; i++)
        if (strcmp(s, names[i]) == 0) {
            *ap = (enum qb_auto_pad)i;
            return QB_OK;
        }
    return qb_node_errorf(g, n, err, QB_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                          s);
}

enum qb_status qb_window_ints(const struct qb_graph *g, const struct qb_node *n, const char *name, int want,
                              int64_t dflt, int64_t lo, int64_t *out, struct qb_error *err)
{
    int64_t v[2 * SP]; /* as many as any window attribute may have: out may hold fewer */
    int count;
    enum qb_status st = qb_node_attr_ints(g, n, name, v, 2 * SP, &count, err);

    if (st != QB_OK)
        return st;
    if (count < 0) {
        for (int i = 0; i < want; i++)
            out[i] = dflt;
        return QB_OK;
    }
    if (count != want)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute '%s' has %d values, expected %d", name, count,
                              want);
    for (int i = 0; i < want; i++)
        if (v[i] < lo || v[i] > QB_WINDOW_DIM_MAX)
            return qb_node_errorf(g, n, err, lo == 0 && v[i] < 0 ? QB_ERR_UNSUPPORTED : QB_ERR_INVALID,
                                  "attribute '%s' value %lld is out of range [%lld, %lld]", name, (long long)v[i],
                                  (long long)lo, (long long)QB_WINDOW_DIM_MAX);
    memcpy(out, v, (size_t)want * sizeof(*v));
    return QB_OK;
}

enum qb_status qb_window_parse(const struct qb_graph *g, const struct qb_node *n, int nsp, const int64_t *kernel,
                               struct qb_window *w, struct qb_error *err)
{
    int64_t ks[SP];
    int count;
    enum qb_status st;

    w->nsp = nsp;
    if (!kernel) {
        if ((st = qb_node_attr_ints(g, n, "kernel_shape", ks, SP, &count, err)) != QB_OK)
            return st;
        if (count < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'kernel_shape' is required");
    }
    if ((st = qb_window_ints(g, n, "kernel_shape", nsp, 1, 1, ks, err)) != QB_OK)
        return st;
    for (int i = 0; i < nsp; i++) {
        if (kernel && qb_node_attr(n, "kernel_shape") && ks[i] != kernel[i])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "kernel_shape[%d] = %lld but W has %lld", i,
                                  (long long)ks[i], (long long)kernel[i]);
        w->k[i] = kernel ? kernel[i] : ks[i];
    }
    if ((st = qb_window_ints(g, n, "strides", nsp, 1, 1, w->s, err)) ||
        (st = qb_window_ints(g, n, "dilations", nsp, 1, 1, w->d, err)) ||
        (st = qb_window_ints(g, n, "pads", 2 * nsp, 0, 0, w->pads, err)) || (st = parse_auto_pad(g, n, &w->ap, err)))
        return st;
    return QB_OK;
}

enum qb_status qb_window_out(const struct qb_graph *g, const struct qb_node *n, enum qb_auto_pad ap, int64_t in,
                             int64_t s, int64_t dk, int64_t *pb, int64_t *pe, int64_t *o, struct qb_error *err)
{
    if (qb_window_same(ap)) {
        int64_t total;
        *o = (in + s - 1) / s;
        total = (*o - 1) * s + dk - in; /* >= dk - in: the kernel always fits */
        if (total < 0)
            total = 0;
        *pb = ap == QB_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        return QB_OK;
    }
    if (ap == QB_AUTO_PAD_VALID)
        *pb = *pe = 0;
    if (in + *pb + *pe < dk)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "kernel (%lld with dilation) exceeds the padded input (%lld)",
                              (long long)dk, (long long)(in + *pb + *pe));
    *o = (in + *pb + *pe - dk) / s + 1;
    return QB_OK;
}
