/* ONNX models built in memory with protobuf-c, for the loader tests (header
 * only; see testutil.h). The builder owns every block it hands out; tm_free()
 * frees them all:
 *
 *     struct tm *t = tm_new(17);                            // opset 17, an empty graph
 *     tm_init_f32(t, "W", 1, dims, w, 4);                   // an initializer
 *     tm_node(t, "Add", "add", S("X", "W"), S("Y"));        // a node
 *     EXPECT(t, QB_ERR_INVALID, "part of the message");     // packs, loads, checks, frees t
 */
#ifndef QB_TESTUTIL_ONNX_H
#define QB_TESTUTIL_ONNX_H

#include "core/onnx.h"
#include "onnx/onnx.pb-c.h"
#include "testutil.h"

/* ---- building models with protobuf-c ------------------------------------------- */

#define TM_MAX 32

struct tm {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto *opsets[4];
    Onnx__StringStringEntryProto *meta[8];
    Onnx__NodeProto *nodes[TM_MAX];
    Onnx__TensorProto *inits[TM_MAX];
    Onnx__ValueInfoProto *ins[TM_MAX], *outs[TM_MAX], *vis[TM_MAX];
    void *allocs[4096];
    int n_allocs;
};

static inline void *tm_alloc(struct tm *t, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p || t->n_allocs == (int)(sizeof(t->allocs) / sizeof(t->allocs[0]))) {
        fprintf(stderr, "out of model builder memory\n");
        exit(2);
    }
    t->allocs[t->n_allocs++] = p;
    return p;
}

static inline void *tm_dup(struct tm *t, const void *p, size_t n)
{
    void *d = tm_alloc(t, n);
    memcpy(d, p, n);
    return d;
}

static inline char *tm_str(struct tm *t, const char *s)
{
    return tm_dup(t, s, strlen(s) + 1);
}

static inline void tm_free(struct tm *t)
{
    for (int i = 0; i < t->n_allocs; i++)
        free(t->allocs[i]);
    free(t);
}

static inline void tm_opset(struct tm *t, const char *domain, int64_t version)
{
    Onnx__OperatorSetIdProto *o = tm_alloc(t, sizeof(*o));
    onnx__operator_set_id_proto__init(o);
    o->domain = tm_str(t, domain);
    o->has_version = 1;
    o->version = version;
    t->m.opset_import[t->m.n_opset_import++] = o;
}

static inline void tm_meta(struct tm *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = tm_alloc(t, sizeof(*e));
    onnx__string_string_entry_proto__init(e);
    e->key = tm_str(t, key);
    e->value = tm_str(t, value);
    t->m.metadata_props[t->m.n_metadata_props++] = e;
}

/* An empty model with opset 17 (0: no opset import). */
static inline struct tm *tm_new(int64_t opset)
{
    struct tm *t = calloc(1, sizeof(*t));
    if (!t)
        exit(2);
    onnx__model_proto__init(&t->m);
    onnx__graph_proto__init(&t->g);
    t->m.has_ir_version = 1;
    t->m.ir_version = 8;
    t->m.producer_name = tm_str(t, "qbtest");
    t->m.producer_version = tm_str(t, "1.0");
    t->m.graph = &t->g;
    t->m.opset_import = t->opsets;
    t->m.metadata_props = t->meta;
    t->g.name = tm_str(t, "tiny");
    t->g.node = t->nodes;
    t->g.initializer = t->inits;
    t->g.input = t->ins;
    t->g.output = t->outs;
    t->g.value_info = t->vis;
    if (opset)
        tm_opset(t, "", opset);
    return t;
}

/* elem < 0: no type; ndim < 0: no shape; params[i] non-NULL: symbolic dim. */
static inline Onnx__ValueInfoProto *tm_vi(struct tm *t, const char *name, int elem, int ndim, const int64_t *dims,
                                          const char *const *params)
{
    Onnx__ValueInfoProto *vi = tm_alloc(t, sizeof(*vi));
    Onnx__TypeProto *tp;
    Onnx__TypeProto__Tensor *tt;

    onnx__value_info_proto__init(vi);
    vi->name = tm_str(t, name);
    if (elem < 0)
        return vi;
    tp = tm_alloc(t, sizeof(*tp));
    tt = tm_alloc(t, sizeof(*tt));
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    if (ndim >= 0) {
        Onnx__TensorShapeProto *sp = tm_alloc(t, sizeof(*sp));
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = (size_t)ndim;
        sp->dim = tm_alloc(t, (size_t)ndim * sizeof(*sp->dim));
        for (int i = 0; i < ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = tm_alloc(t, sizeof(*d));
            onnx__tensor_shape_proto__dimension__init(d);
            if (params && params[i]) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = tm_str(t, params[i]);
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    vi->type = tp;
    return vi;
}

static inline Onnx__TensorProto *tm_tensor(struct tm *t, const char *name, int dtype, int ndim, const int64_t *dims)
{
    Onnx__TensorProto *x = tm_alloc(t, sizeof(*x));
    onnx__tensor_proto__init(x);
    if (name)
        x->name = tm_str(t, name);
    x->has_data_type = 1;
    x->data_type = dtype;
    x->n_dims = (size_t)ndim;
    x->dims = tm_dup(t, dims, (size_t)ndim * sizeof(int64_t));
    return x;
}

static inline void tm_raw(struct tm *t, Onnx__TensorProto *x, const void *data, size_t len)
{
    x->has_raw_data = 1;
    x->raw_data.len = len;
    x->raw_data.data = len ? tm_dup(t, data, len) : NULL;
}

static inline Onnx__TensorProto *tm_init_f32(struct tm *t, const char *name, int ndim, const int64_t *dims,
                                             const float *v, size_t n)
{
    Onnx__TensorProto *x = tm_tensor(t, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    x->n_float_data = n;
    x->float_data = tm_dup(t, v, n * sizeof(float));
    t->g.initializer[t->g.n_initializer++] = x;
    return x;
}

static inline char **tm_names(struct tm *t, const char *const *names, size_t *n)
{
    char **a;
    for (*n = 0; names && names[*n]; (*n)++)
        ;
    a = tm_alloc(t, (*n + 1) * sizeof(*a));
    for (size_t i = 0; i < *n; i++)
        a[i] = tm_str(t, names[i]);
    return a;
}

static inline Onnx__NodeProto *tm_node(struct tm *t, const char *op, const char *name, const char *const *ins,
                                       const char *const *outs)
{
    Onnx__NodeProto *n = tm_alloc(t, sizeof(*n));
    onnx__node_proto__init(n);
    if (op)
        n->op_type = tm_str(t, op);
    if (name)
        n->name = tm_str(t, name);
    n->input = tm_names(t, ins, &n->n_input);
    n->output = tm_names(t, outs, &n->n_output);
    n->attribute = tm_alloc(t, 16 * sizeof(*n->attribute));
    t->g.node[t->g.n_node++] = n;
    return n;
}

static inline Onnx__AttributeProto *tm_attr(struct tm *t, Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = tm_alloc(t, sizeof(*a));
    onnx__attribute_proto__init(a);
    a->name = tm_str(t, name);
    if (type) {
        a->has_type = 1;
        a->type = type;
    }
    n->attribute[n->n_attribute++] = a;
    return a;
}

static inline uint8_t *tm_pack(struct tm *t, size_t *len)
{
    uint8_t *buf;
    *len = protobuf_c_message_get_packed_size(&t->m.base);
    buf = malloc(*len + 16);
    if (!buf)
        exit(2);
    protobuf_c_message_pack(&t->m.base, buf);
    return buf;
}

/* Packs the model and frees the builder; the bytes are malloc'd. */
static inline uint8_t *tm_pack_free(struct tm *t, size_t *len)
{
    uint8_t *buf = tm_pack(t, len);
    tm_free(t);
    return buf;
}

/* Writes the model to path and frees the builder. */
static inline void tm_write(struct tm *t, const char *path)
{
    size_t len;
    uint8_t *buf = tm_pack_free(t, &len);
    write_file(path, buf, len);
    free(buf);
}

#define S(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const *)NULL)
#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT

/* ---- models shared by several tests ---------------------------------------------- */

/* X[1,C,4,W] + W[4] -> Y; Relu -> Z; Constant -> K; Clip(Z, "", K) -> OUT. */
static inline struct tm *base_model(void)
{
    struct tm *t = tm_new(17);
    static const int64_t xd[4] = {1, 0, 4, 0}, wd[1] = {4};
    static const float w[4] = {1, 2, 3, 4};
    const char *params[4] = {NULL, "C", NULL, "W"};
    Onnx__NodeProto *n;
    Onnx__AttributeProto *a;
    float half = 0.5f;
    static const float fs[2] = {1.0f, 2.0f};
    static const int64_t is[3] = {1, -2, 3};
    Onnx__GraphProto *sub;

    tm_opset(t, "com.microsoft", 1);
    tm_meta(t, "stride", "32");
    tm_meta(t, "names", "{0: 'a'}");
    t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 4, xd, params);
    t->g.output[t->g.n_output++] = tm_vi(t, "OUT", F32, 4, xd, params);
    t->g.value_info[t->g.n_value_info++] = tm_vi(t, "Y", F32, 4, xd, params);
    t->g.value_info[t->g.n_value_info++] = tm_vi(t, "nothing", F32, 1, wd, NULL);
    tm_init_f32(t, "W", 1, wd, w, 4);
    tm_node(t, "Add", "add", S("X", "W"), S("Y"));
    tm_node(t, "Relu", NULL, S("Y"), S("Z"));
    n = tm_node(t, "Constant", "", NONE, S("K"));
    a = tm_attr(t, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tm_tensor(t, NULL, F32, 0, wd);
    tm_raw(t, a->t, &half, sizeof(half));
    n = tm_node(t, "Clip", "clip", S("Z", "", "K"), S("OUT"));
    n->domain = tm_str(t, "ai.onnx");
    a = tm_attr(t, n, "f", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = 1.5f;
    a = tm_attr(t, n, "i", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = -3;
    a = tm_attr(t, n, "s", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = tm_dup(t, "hello", 5);
    a->s.len = 5;
    a = tm_attr(t, n, "fs", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = 2;
    a->floats = tm_dup(t, fs, sizeof(fs));
    a = tm_attr(t, n, "is", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = 3;
    a->ints = tm_dup(t, is, sizeof(is));
    a = tm_attr(t, n, "ss", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    a->n_strings = 2;
    a->strings = tm_alloc(t, 2 * sizeof(*a->strings));
    a->strings[0] = (ProtobufCBinaryData){1, tm_dup(t, "a", 1)};
    a->strings[1] = (ProtobufCBinaryData){2, tm_dup(t, "bc", 2)};
    a = tm_attr(t, n, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    sub = tm_alloc(t, sizeof(*sub));
    onnx__graph_proto__init(sub);
    sub->name = tm_str(t, "body");
    a->g = sub;
    /* type not set: the loader must guess INT from has_i */
    a = tm_attr(t, n, "old", 0);
    a->has_i = 1;
    a->i = 7;
    return t;
}

/* An initializer E[4] in external data (NULL: the key is left out). */
static inline struct tm *ext_model(const char *location, const char *offset, const char *length)
{
    static const int64_t d4[1] = {4};
    struct tm *t = tm_new(17);
    Onnx__TensorProto *x = tm_tensor(t, "E", F32, 1, d4);
    const char *kv[3][2] = {{"location", location}, {"offset", offset}, {"length", length}};

    x->has_data_location = 1;
    x->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    x->external_data = tm_alloc(t, 3 * sizeof(*x->external_data));
    for (int i = 0; i < 3; i++) {
        Onnx__StringStringEntryProto *e;
        if (!kv[i][1])
            continue;
        e = tm_alloc(t, sizeof(*e));
        onnx__string_string_entry_proto__init(e);
        e->key = tm_str(t, kv[i][0]);
        e->value = tm_str(t, kv[i][1]);
        x->external_data[x->n_external_data++] = e;
    }
    t->g.initializer[t->g.n_initializer++] = x;
    return t;
}


/* ---- loading and checking --------------------------------------------------------- */

/* One check: status want; on failure also a message that starts with prefix and
 * contains frag, and no graph. Reported at the caller's file and line. */
static inline void expect_status(enum qb_status st, const struct qb_graph *g, const struct qb_error *err,
                                 const char *prefix, enum qb_status want, const char *frag, const char *file,
                                 int line)
{
    if (st == want && (want == QB_OK || (starts_with(err->msg, prefix) && strstr(err->msg, frag))) &&
        (st == QB_OK || g == NULL))
        n_pass++;
    else
        check_failed(file, line, "expected %s containing '%s', got %s: %s", qb_status_str(want), frag,
                     qb_status_str(st), err->msg);
}

/* Loads buf as "mem.onnx" (external data relative to base) and expects status want
 * with a message that starts with "mem.onnx: " and contains frag. */
static inline void expect_buf_at(const void *buf, size_t len, const char *base, enum qb_status want,
                                 const char *frag, const char *file, int line)
{
    struct qb_error err = {0};
    struct qb_graph *g = (struct qb_graph *)&err; /* must be reset to NULL */
    enum qb_status st = qb_onnx_load_buffer(buf, len, "mem.onnx", base, &g, &err);

    expect_status(st, g, &err, "mem.onnx: ", want, frag, file, line);
    qb_graph_free(st == QB_OK ? g : NULL);
}

#define EXPECT_BUF(buf, len, base, st, frag) expect_buf_at((buf), (len), (base), (st), (frag), __FILE__, __LINE__)

/* Packs and loads the model from memory, expects as EXPECT_BUF, frees t. */
static inline void expect_model_at(struct tm *t, enum qb_status want, const char *frag, const char *file, int line)
{
    size_t len;
    uint8_t *buf = tm_pack_free(t, &len);
    expect_buf_at(buf, len, NULL, want, frag, file, line);
    free(buf);
}

#define EXPECT(t, st, frag) expect_model_at((t), (st), (frag), __FILE__, __LINE__)

/* Packs, frees t and loads; NULL (with the message printed) on failure. */
static inline struct qb_graph *load_model(struct tm *t, struct qb_error *err)
{
    size_t len;
    uint8_t *buf = tm_pack_free(t, &len);
    struct qb_graph *g = NULL;
    enum qb_status st = qb_onnx_load_buffer(buf, len, "mem.onnx", NULL, &g, err);
    if (st != QB_OK)
        fprintf(stderr, "load failed: %s\n", err->msg);
    free(buf);
    return g;
}

static inline const struct qb_value *value(const struct qb_graph *g, const char *name)
{
    int v = qb_graph_find_value(g, name);
    return v >= 0 ? &g->values[v] : NULL;
}

static inline const char *meta(const struct qb_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

#endif
