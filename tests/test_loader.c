/* The ONNX loader: the real YOLO11n fixture, small models built in memory with
 * protobuf-c (every initializer dtype, attributes, external data), and hostile
 * input (truncation at every length, byte flips, escaping external paths, deep
 * nesting, too many nodes). Every refusal must carry the file path first.
 *
 *   test_loader                 run everything
 *   QB_LOADER_WRITE_SEEDS=DIR   also write the small models into DIR (fuzz seeds)
 *   QB_LOADER_WRITE_BAD=DIR     also write bad models into DIR (tests/data/bad)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/onnx.h"
#include "onnx/onnx.pb-c.h"

static int n_checks, n_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        n_checks++;                                                                  \
        if (!(cond)) {                                                               \
            n_failed++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

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

static void *tm_alloc(struct tm *t, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p || t->n_allocs == (int)(sizeof(t->allocs) / sizeof(t->allocs[0]))) {
        fprintf(stderr, "test_loader: out of builder memory\n");
        exit(2);
    }
    t->allocs[t->n_allocs++] = p;
    return p;
}

static void *tm_dup(struct tm *t, const void *p, size_t n)
{
    void *d = tm_alloc(t, n);
    memcpy(d, p, n);
    return d;
}

static char *tm_str(struct tm *t, const char *s)
{
    return tm_dup(t, s, strlen(s) + 1);
}

static void tm_free(struct tm *t)
{
    for (int i = 0; i < t->n_allocs; i++)
        free(t->allocs[i]);
    free(t);
}

static void tm_opset(struct tm *t, const char *domain, int64_t version)
{
    Onnx__OperatorSetIdProto *o = tm_alloc(t, sizeof(*o));
    onnx__operator_set_id_proto__init(o);
    o->domain = tm_str(t, domain);
    o->has_version = 1;
    o->version = version;
    t->m.opset_import[t->m.n_opset_import++] = o;
}

static void tm_meta(struct tm *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = tm_alloc(t, sizeof(*e));
    onnx__string_string_entry_proto__init(e);
    e->key = tm_str(t, key);
    e->value = tm_str(t, value);
    t->m.metadata_props[t->m.n_metadata_props++] = e;
}

/* An empty model with opset 17 (0: no opset import). */
static struct tm *tm_new(int64_t opset)
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
static Onnx__ValueInfoProto *tm_vi(struct tm *t, const char *name, int elem, int ndim, const int64_t *dims,
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

static Onnx__TensorProto *tm_tensor(struct tm *t, const char *name, int dtype, int ndim, const int64_t *dims)
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

static void tm_raw(struct tm *t, Onnx__TensorProto *x, const void *data, size_t len)
{
    x->has_raw_data = 1;
    x->raw_data.len = len;
    x->raw_data.data = len ? tm_dup(t, data, len) : NULL;
}

static Onnx__TensorProto *tm_init_f32(struct tm *t, const char *name, int ndim, const int64_t *dims,
                                       const float *v, size_t n)
{
    Onnx__TensorProto *x = tm_tensor(t, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    x->n_float_data = n;
    x->float_data = tm_dup(t, v, n * sizeof(float));
    t->g.initializer[t->g.n_initializer++] = x;
    return x;
}

static char **tm_names(struct tm *t, const char *const *names, size_t *n)
{
    char **a;
    for (*n = 0; names && names[*n]; (*n)++)
        ;
    a = tm_alloc(t, (*n + 1) * sizeof(*a));
    for (size_t i = 0; i < *n; i++)
        a[i] = tm_str(t, names[i]);
    return a;
}

static Onnx__NodeProto *tm_node(struct tm *t, const char *op, const char *name, const char *const *ins,
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

static Onnx__AttributeProto *tm_attr(struct tm *t, Onnx__NodeProto *n, const char *name, int type)
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

static uint8_t *tm_pack(struct tm *t, size_t *len)
{
    uint8_t *buf;
    *len = protobuf_c_message_get_packed_size(&t->m.base);
    buf = malloc(*len + 16);
    if (!buf)
        exit(2);
    protobuf_c_message_pack(&t->m.base, buf);
    return buf;
}

#define S(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const *)NULL)
#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT

/* X[1,C,4,W] + W[4] -> Y; Relu -> Z; Constant -> K; Clip(Z, "", K) -> OUT. */
static struct tm *base_model(void)
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

/* ---- helpers ----------------------------------------------------------------------- */

static char tmpdir[256];

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "test_loader: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Loads buf and expects status want with a message that starts with path and contains frag. */
static void expect_buf(const void *buf, size_t len, const char *base, enum qb_status want, const char *frag,
                       int line)
{
    struct qb_error err = {0};
    struct qb_graph *g = (struct qb_graph *)&err; /* must be reset to NULL */
    enum qb_status st = qb_onnx_load_buffer(buf, len, "mem.onnx", base, &g, &err);

    n_checks++;
    if (st != want || (want != QB_OK && (!starts_with(err.msg, "mem.onnx: ") || !strstr(err.msg, frag))) ||
        (st != QB_OK && g != NULL)) {
        n_failed++;
        fprintf(stderr, "%s:%d: expected %s containing '%s', got %s: %s\n", __FILE__, line, qb_status_str(want),
                frag, qb_status_str(st), err.msg);
    }
    qb_graph_free(st == QB_OK ? g : NULL);
}

static void expect_model(struct tm *t, enum qb_status want, const char *frag, int line)
{
    size_t len;
    uint8_t *buf = tm_pack(t, &len);
    expect_buf(buf, len, NULL, want, frag, line);
    free(buf);
    tm_free(t);
}

#define EXPECT(t, st, frag) expect_model((t), (st), (frag), __LINE__)

/* Packs, frees t and loads; NULL (with the message printed) on failure. */
static struct qb_graph *load_model(struct tm *t, struct qb_error *err)
{
    size_t len;
    uint8_t *buf = tm_pack(t, &len);
    struct qb_graph *g = NULL;
    enum qb_status st = qb_onnx_load_buffer(buf, len, "mem.onnx", NULL, &g, err);
    if (st != QB_OK)
        fprintf(stderr, "load failed: %s\n", err->msg);
    free(buf);
    tm_free(t);
    return g;
}

static const struct qb_value *value(const struct qb_graph *g, const char *name)
{
    int v = qb_graph_find_value(g, name);
    return v >= 0 ? &g->values[v] : NULL;
}

static const char *meta(const struct qb_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

/* ---- the real model --------------------------------------------------------------- */

static void test_yolo_fixture(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char path[1024];
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    const struct qb_value *in, *out;
    int n_init = 0, n_conv = 0, n_sig = 0, n_mul = 0, n_matmul = 0, n_softmax = 0;

    snprintf(path, sizeof(path), "%s/../shared/fixtures/yolo11n/yolo11n-320.onnx", src ? src : ".");
    if (access(path, R_OK) != 0) {
        printf("test_loader: SKIPPED the YOLO11n fixture part: %s not found\n", path);
        return;
    }
    CHECK(qb_onnx_load(path, &g, &err) == QB_OK);
    if (!g) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(g->opset == 12);
    CHECK(g->ir_version == 7);
    CHECK(strcmp(g->producer, "dequantized-from-onnx.quantize 0.1.0") == 0);
    CHECK(g->n_inputs == 1 && g->n_outputs == 1);
    in = &g->values[g->inputs[0]];
    out = &g->values[g->outputs[0]];
    CHECK(strcmp(in->name, "images") == 0 && in->dtype == QB_DTYPE_F32 && in->ndim == 4);
    CHECK(in->shape[0] == 1 && in->shape[1] == 3 && in->shape[2] == 320 && in->shape[3] == 320);
    CHECK(in->flags == QB_VALUE_INPUT);
    CHECK(strcmp(out->name, "output0") == 0 && out->ndim == 3 && out->shape[1] == 84 && out->shape[2] == 2100);
    CHECK(out->flags & QB_VALUE_OUTPUT);
    CHECK(out->producer >= 0);
    for (int v = 0; v < g->n_values; v++) {
        const struct qb_value *val = &g->values[v];
        if (val->flags & QB_VALUE_INIT) {
            n_init++;
            CHECK(val->data != NULL && (val->flags & QB_VALUE_CONST));
        }
    }
    CHECK(n_init == 192);
    CHECK(g->n_nodes == 321);
    for (int i = 0; i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        n_conv += strcmp(op, "Conv") == 0;
        n_sig += strcmp(op, "Sigmoid") == 0;
        n_mul += strcmp(op, "Mul") == 0;
        n_matmul += strcmp(op, "MatMul") == 0;
        n_softmax += strcmp(op, "Softmax") == 0;
        CHECK(g->nodes[i].name && g->nodes[i].name[0]);
        CHECK(strcmp(g->nodes[i].domain, "") == 0);
        for (int k = 0; k < g->nodes[i].n_out; k++)
            CHECK(g->nodes[i].out[k] < 0 || g->values[g->nodes[i].out[k]].producer == i);
    }
    CHECK(n_conv == 88 && n_sig == 78 && n_mul == 79 && n_matmul == 2 && n_softmax == 2);
    CHECK(meta(g, "stride") && strcmp(meta(g, "stride"), "32") == 0);
    CHECK(meta(g, "names") && strstr(meta(g, "names"), "0: 'person'"));
    CHECK(meta(g, "imgsz") && strcmp(meta(g, "imgsz"), "[320, 320]") == 0);
    CHECK(meta(g, "batch") && strcmp(meta(g, "batch"), "1") == 0);
    CHECK(meta(g, "task") && strcmp(meta(g, "task"), "detect") == 0);
    qb_graph_free(g);
}

/* ---- small models ----------------------------------------------------------------- */

static void test_base_model(void)
{
    struct qb_error err = {0};
    struct qb_graph *g = load_model(base_model(), &err);
    const struct qb_value *x, *w, *k, *y, *out;
    const struct qb_node *n;

    CHECK(g != NULL);
    if (!g)
        return;
    CHECK(strcmp(g->path, "mem.onnx") == 0 && strcmp(g->name, "tiny") == 0);
    CHECK(strcmp(g->producer, "qbtest 1.0") == 0 && g->ir_version == 8);
    CHECK(g->opset == 17 && g->n_opsets == 2 && strcmp(g->opsets[1].domain, "com.microsoft") == 0);
    CHECK(g->n_meta == 2 && strcmp(meta(g, "stride"), "32") == 0 && strcmp(meta(g, "names"), "{0: 'a'}") == 0);
    CHECK(g->n_inputs == 1 && g->n_outputs == 1 && g->n_nodes == 4);

    x = value(g, "X");
    CHECK(x && g->inputs[0] == qb_graph_find_value(g, "X") && x->flags == QB_VALUE_INPUT);
    CHECK(x && x->dtype == QB_DTYPE_F32 && x->ndim == 4 && x->shape[0] == 1 && x->shape[1] == -1 &&
          x->shape[2] == 4 && x->shape[3] == -1);
    CHECK(x && x->dim_param[1] && strcmp(x->dim_param[1], "C") == 0 && !x->dim_param[0] && x->producer == -1);
    w = value(g, "W");
    CHECK(w && w->flags == (QB_VALUE_CONST | QB_VALUE_INIT) && w->dtype == QB_DTYPE_F32 && w->ndim == 1);
    CHECK(w && ((const float *)w->data)[3] == 4.0f);
    y = value(g, "Y");
    CHECK(y && y->producer == 0 && y->ndim == 4 && y->dtype == QB_DTYPE_F32 && y->flags == 0);
    CHECK(value(g, "nothing") == NULL); /* value_info alone creates no value */
    out = value(g, "OUT");
    CHECK(out && out->flags == QB_VALUE_OUTPUT && out->producer == 3 && out->ndim == 4);
    CHECK(g->outputs[0] == qb_graph_find_value(g, "OUT"));

    n = &g->nodes[0];
    CHECK(strcmp(n->name, "add") == 0 && strcmp(n->op_type, "Add") == 0 && strcmp(n->domain, "") == 0);
    CHECK(n->n_in == 2 && n->in[0] == qb_graph_find_value(g, "X") && n->in[1] == qb_graph_find_value(g, "W"));
    CHECK(strcmp(g->nodes[1].name, "Relu_1") == 0);
    n = &g->nodes[2];
    CHECK(strcmp(n->name, "Constant_2") == 0 && n->n_in == 0 && n->n_attr == 1);
    CHECK(n->attrs[0].type == QB_ATTR_TENSOR && strcmp(n->attrs[0].name, "value") == 0);
    k = &g->values[n->attrs[0].u.tensor];
    CHECK(strcmp(k->name, "Constant_2.value") == 0 && k->flags == QB_VALUE_CONST && k->ndim == 0);
    CHECK(k->dtype == QB_DTYPE_F32 && *(const float *)k->data == 0.5f && k->producer == -1);

    n = &g->nodes[3];
    CHECK(strcmp(n->domain, "") == 0 && n->n_in == 3 && n->in[1] == -1);
    CHECK(n->n_attr == 8);
    CHECK(qb_node_attr(n, "f")->type == QB_ATTR_FLOAT && qb_node_attr(n, "f")->u.f == 1.5f);
    CHECK(qb_node_attr(n, "i")->type == QB_ATTR_INT && qb_node_attr(n, "i")->u.i == -3);
    CHECK(qb_node_attr(n, "s")->type == QB_ATTR_STRING && strcmp(qb_node_attr(n, "s")->u.s, "hello") == 0);
    CHECK(qb_node_attr(n, "fs")->n == 2 && qb_node_attr(n, "fs")->u.fs[1] == 2.0f);
    CHECK(qb_node_attr(n, "is")->type == QB_ATTR_INTS && qb_node_attr(n, "is")->n == 3 &&
          qb_node_attr(n, "is")->u.is[1] == -2);
    CHECK(qb_node_attr(n, "ss")->n == 2 && strcmp(qb_node_attr(n, "ss")->u.ss[1], "bc") == 0);
    CHECK(qb_node_attr(n, "body")->type == QB_ATTR_GRAPH);
    CHECK(qb_node_attr(n, "old")->type == QB_ATTR_INT && qb_node_attr(n, "old")->u.i == 7);
    qb_graph_free(g);
}

struct typed_case {
    const char *name;
    int onnx;
    enum qb_dtype dtype;
    int field; /* 1 int32_data, 2 int64_data, 3 double_data, 4 uint64_data, 5 raw float */
    int64_t in[3];
    double din[3];
    uint64_t uin[3];
    unsigned char want[24];
    size_t want_len;
};

static void test_typed_initializers(void)
{
    static const struct typed_case cases[] = {
        {"f16", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, QB_DTYPE_F16, 1, {0x3c00, 0xc000, 0x7bff}, {0}, {0},
         {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b}, 6},
        {"i8", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, QB_DTYPE_I8, 1, {-1, 127, -128}, {0}, {0}, {0xff, 0x7f, 0x80}, 3},
        {"u8", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, QB_DTYPE_U8, 1, {0, 255, 7}, {0}, {0}, {0, 255, 7}, 3},
        {"i16", ONNX__TENSOR_PROTO__DATA_TYPE__INT16, QB_DTYPE_I16, 1, {-2, 300, -32768}, {0}, {0},
         {0xfe, 0xff, 0x2c, 0x01, 0x00, 0x80}, 6},
        {"u16", ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, QB_DTYPE_U16, 1, {65535, 1, 2}, {0}, {0},
         {0xff, 0xff, 1, 0, 2, 0}, 6},
        {"i32", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, QB_DTYPE_I32, 1, {-1, 5, 0x01020304}, {0}, {0},
         {0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 4, 3, 2, 1}, 12},
        {"bool", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, QB_DTYPE_BOOL, 1, {0, 1, 5}, {0}, {0}, {0, 1, 1}, 3},
        {"i64", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, QB_DTYPE_I64, 2, {INT64_MIN, 42, -1}, {0}, {0},
         {0, 0, 0, 0, 0, 0, 0, 0x80, 42, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 24},
        {"f64", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, QB_DTYPE_F64, 3, {0}, {0.5, -2.0, 0}, {0},
         {0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0}, 24},
        {"u32", ONNX__TENSOR_PROTO__DATA_TYPE__UINT32, QB_DTYPE_U32, 4, {0}, {0}, {4294967295u, 3, 0},
         {0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 0}, 12},
        {"u64", ONNX__TENSOR_PROTO__DATA_TYPE__UINT64, QB_DTYPE_U64, 4, {0}, {0}, {UINT64_MAX, 9, 0},
         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 24},
        {"raw", F32, QB_DTYPE_F32, 5, {0}, {0}, {0}, {0, 0, 0xc0, 0x3f, 0, 0, 0x80, 0xbf, 0, 0, 0, 0}, 12},
    };
    const size_t n_cases = sizeof(cases) / sizeof(cases[0]);
    struct tm *t = tm_new(17);
    static const int64_t d3[1] = {3}, d0[2] = {0, 3};
    static const char *const strs[3] = {"ab", "", "xyz"};
    struct qb_error err = {0};
    struct qb_graph *g;
    Onnx__TensorProto *x;
    int64_t seven = 7;

    for (size_t i = 0; i < n_cases; i++) {
        const struct typed_case *c = &cases[i];
        x = tm_tensor(t, c->name, c->onnx, 1, d3);
        if (c->field == 1) {
            int32_t v[3] = {(int32_t)c->in[0], (int32_t)c->in[1], (int32_t)c->in[2]};
            x->n_int32_data = 3;
            x->int32_data = tm_dup(t, v, sizeof(v));
        } else if (c->field == 2) {
            x->n_int64_data = 3;
            x->int64_data = tm_dup(t, c->in, sizeof(c->in));
        } else if (c->field == 3) {
            x->n_double_data = 3;
            x->double_data = tm_dup(t, c->din, sizeof(c->din));
        } else if (c->field == 4) {
            x->n_uint64_data = 3;
            x->uint64_data = tm_dup(t, c->uin, sizeof(c->uin));
        } else {
            tm_raw(t, x, c->want, c->want_len);
        }
        t->g.initializer[t->g.n_initializer++] = x;
    }
    x = tm_tensor(t, "str", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, d3);
    x->n_string_data = 3;
    x->string_data = tm_alloc(t, 3 * sizeof(*x->string_data));
    for (int i = 0; i < 3; i++)
        x->string_data[i] = (ProtobufCBinaryData){strlen(strs[i]), strlen(strs[i]) ? (uint8_t *)tm_str(t, strs[i]) : NULL};
    t->g.initializer[t->g.n_initializer++] = x;
    x = tm_tensor(t, "scalar", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 0, d3);
    tm_raw(t, x, &seven, sizeof(seven));
    t->g.initializer[t->g.n_initializer++] = x;
    x = tm_tensor(t, "empty", F32, 2, d0); /* zero elements, no data at all */
    t->g.initializer[t->g.n_initializer++] = x;
    /* an initializer that is also listed as a graph input (IR < 4 style) stays a constant */
    t->g.input[t->g.n_input++] = tm_vi(t, "scalar", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 0, d3, NULL);

    g = load_model(t, &err);
    CHECK(g != NULL);
    if (!g)
        return;
    CHECK(g->n_inputs == 0);
    for (size_t i = 0; i < n_cases; i++) {
        const struct typed_case *c = &cases[i];
        const struct qb_value *v = value(g, c->name);
        bool ok = v && v->dtype == c->dtype && v->ndim == 1 && v->shape[0] == 3 &&
                  v->flags == (QB_VALUE_CONST | QB_VALUE_INIT) && qb_dtype_size(c->dtype) * 3 == c->want_len &&
                  memcmp(v->data, c->want, c->want_len) == 0;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  typed initializer '%s' is wrong\n", c->name);
    }
    {
        const struct qb_value *v = value(g, "str");
        CHECK(v && v->dtype == QB_DTYPE_STRING && v->ndim == 1);
        CHECK(v && strcmp(((const char *const *)v->data)[0], "ab") == 0 &&
              strcmp(((const char *const *)v->data)[1], "") == 0 &&
              strcmp(((const char *const *)v->data)[2], "xyz") == 0);
        v = value(g, "scalar");
        CHECK(v && v->ndim == 0 && v->dtype == QB_DTYPE_I64 && *(const int64_t *)v->data == 7);
        CHECK(v && !(v->flags & QB_VALUE_INPUT));
        v = value(g, "empty");
        CHECK(v && v->ndim == 2 && v->shape[0] == 0 && v->shape[1] == 3 && v->data != NULL);
    }
    qb_graph_free(g);
}

/* One bad initializer X[4] per call; fill decides what is wrong with it. */
static struct tm *bad_init(int dtype, int ndim, const int64_t *dims, Onnx__TensorProto **x)
{
    struct tm *t = tm_new(17);
    *x = tm_tensor(t, "X", dtype, ndim, dims);
    t->g.initializer[t->g.n_initializer++] = *x;
    return t;
}

static void test_bad_initializers(void)
{
    static const int64_t d4[1] = {4}, dneg[2] = {2, -1}, d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const int64_t dbig[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    static const float f3[3] = {1, 2, 3};
    static const int64_t i4[4] = {1, 2, 3, 4};
    Onnx__TensorProto *x;
    struct tm *t;

    t = bad_init(F32, 1, d4, &x);
    x->n_float_data = 3;
    x->float_data = tm_dup(t, f3, sizeof(f3));
    EXPECT(t, QB_ERR_INVALID, "initializer 'X': float_data has 3 elements, but dims [4] need 4");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 15);
    EXPECT(t, QB_ERR_INVALID, "initializer 'X': raw_data has 15 bytes, but dims [4] of FLOAT need 16");
    t = bad_init(F32, 1, d4, &x);
    EXPECT(t, QB_ERR_INVALID, "initializer 'X': has no data, but dims [4] need 4 elements");
    t = bad_init(F32, 1, d4, &x);
    x->n_int64_data = 4;
    x->int64_data = tm_dup(t, i4, sizeof(i4));
    EXPECT(t, QB_ERR_INVALID, "is FLOAT but stores its data in int64_data");
    t = bad_init(F32, 1, d4, &x);
    x->n_int64_data = 4;
    x->int64_data = tm_dup(t, i4, sizeof(i4));
    x->n_float_data = 3;
    x->float_data = tm_dup(t, f3, sizeof(f3));
    EXPECT(t, QB_ERR_INVALID, "stores data in both float_data and int64_data");
    t = bad_init(F32, 1, d4, &x);
    x->n_float_data = 3;
    x->float_data = tm_dup(t, f3, sizeof(f3));
    tm_raw(t, x, i4, 16);
    EXPECT(t, QB_ERR_INVALID, "more than one of raw_data");
    t = bad_init(F32, 2, dneg, &x);
    EXPECT(t, QB_ERR_INVALID, "dims [2,-1] has a negative dimension");
    t = bad_init(F32, 9, d9, &x);
    EXPECT(t, QB_ERR_UNSUPPORTED, "has 9 dimensions, at most 8");
    t = bad_init(F32, 2, dbig, &x);
    EXPECT(t, QB_ERR_INVALID, "overflows");
    t = bad_init(ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, 1, d4, &x);
    tm_raw(t, x, i4, 8);
    EXPECT(t, QB_ERR_UNSUPPORTED, "initializer 'X': data type BFLOAT16 is not supported");
    t = bad_init(ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64, 1, d4, &x);
    EXPECT(t, QB_ERR_UNSUPPORTED, "COMPLEX64");
    t = bad_init(99, 1, d4, &x);
    EXPECT(t, QB_ERR_INVALID, "unknown data type 99");
    t = bad_init(0, 1, d4, &x);
    x->has_data_type = 0;
    EXPECT(t, QB_ERR_INVALID, "initializer 'X': has no data type");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 16);
    x->segment = tm_alloc(t, sizeof(*x->segment));
    onnx__tensor_proto__segment__init(x->segment);
    EXPECT(t, QB_ERR_UNSUPPORTED, "segment");
    t = bad_init(ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, d4, &x);
    tm_raw(t, x, i4, 4);
    EXPECT(t, QB_ERR_INVALID, "STRING tensors must use string_data");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 16);
    x->name[0] = '\0';
    EXPECT(t, QB_ERR_INVALID, "initializer 0 has no name");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 16);
    t->g.initializer[t->g.n_initializer++] = x;
    EXPECT(t, QB_ERR_INVALID, "initializer 'X' is given twice");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 16);
    x->has_data_location = 1;
    x->data_location = 7;
    EXPECT(t, QB_ERR_INVALID, "unknown data_location 7");
    t = bad_init(F32, 1, d4, &x);
    tm_raw(t, x, i4, 16);
    t->g.n_sparse_initializer = 1;
    t->g.sparse_initializer = tm_alloc(t, sizeof(*t->g.sparse_initializer));
    t->g.sparse_initializer[0] = tm_alloc(t, sizeof(Onnx__SparseTensorProto));
    onnx__sparse_tensor_proto__init(t->g.sparse_initializer[0]);
    EXPECT(t, QB_ERR_UNSUPPORTED, "sparse initializers are not supported");
}

static void test_bad_graphs(void)
{
    static const int64_t d1[1] = {1};
    static const float one = 1;
    struct tm *t;
    Onnx__NodeProto *n;
    Onnx__AttributeProto *a;

    t = tm_new(17);
    tm_node(t, "Relu", "first", S("X"), S("Y"));
    tm_node(t, "Sigmoid", "second", S("X"), S("Y"));
    EXPECT(t, QB_ERR_INVALID, "node 'second' (Sigmoid): output 'Y' is also produced by node 'first' (Relu)");
    t = tm_new(17);
    tm_node(t, "Split", "twice", S("X"), S("Y", "Y"));
    EXPECT(t, QB_ERR_INVALID, "output 'Y' is also produced by node 'twice'");
    t = tm_new(17);
    tm_init_f32(t, "W", 1, d1, &one, 1);
    tm_node(t, "Relu", "r", S("X"), S("W"));
    EXPECT(t, QB_ERR_INVALID, "node 'r' (Relu): output 'W' is also an initializer");
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 1, d1, NULL);
    tm_node(t, "Relu", NULL, S("X"), S("X"));
    EXPECT(t, QB_ERR_INVALID, "node 'Relu_0' (Relu): output 'X' is also a graph input");

    EXPECT(tm_new(0), QB_ERR_INVALID, "imports no opset for the default ONNX domain");
    t = tm_new(0);
    tm_opset(t, "com.microsoft", 1);
    tm_node(t, "Relu", "r", S("X"), S("Y"));
    EXPECT(t, QB_ERR_INVALID, "node 'r' (Relu) is in the default ONNX domain, but the model imports no opset");
    t = tm_new(0);
    tm_opset(t, "ai.onnx.preview.training", 1);
    tm_node(t, "Adagrad", "a", S("X"), S("Y"))->domain = tm_str(t, "ai.onnx.preview.training");
    EXPECT(t, QB_ERR_UNSUPPORTED, "all ops are in domain 'ai.onnx.preview.training'");
    t = tm_new(0);
    tm_opset(t, "ai.onnx", 13);
    {
        size_t len;
        uint8_t *buf = tm_pack(t, &len);
        struct qb_graph *g = NULL;
        CHECK(qb_onnx_load_buffer(buf, len, "x", NULL, &g, NULL) == QB_OK && g && g->opset == 13);
        qb_graph_free(g);
        free(buf);
        tm_free(t);
    }
    t = tm_new(12);
    tm_opset(t, "", 13);
    EXPECT(t, QB_ERR_INVALID, "imported at opsets 12 and 13");
    t = tm_new(12);
    t->opsets[0]->has_version = 0;
    EXPECT(t, QB_ERR_INVALID, "opset import for domain '' has no valid version");
    t = tm_new(17);
    t->m.graph = NULL;
    EXPECT(t, QB_ERR_INVALID, "the model has no graph");

    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "", F32, 1, d1, NULL);
    EXPECT(t, QB_ERR_INVALID, "graph input 0 has no name");
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 1, d1, NULL);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 1, d1, NULL);
    EXPECT(t, QB_ERR_INVALID, "graph input 'X' is listed twice");
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", -1, 0, NULL, NULL);
    EXPECT(t, QB_ERR_INVALID, "graph input 'X' has no type");
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, 1, d1, NULL);
    EXPECT(t, QB_ERR_UNSUPPORTED, "graph input 'X' has element type BFLOAT16");
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 1, d1, NULL);
    t->ins[0]->type->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    t->ins[0]->type->sequence_type = tm_alloc(t, sizeof(Onnx__TypeProto__Sequence));
    onnx__type_proto__sequence__init(t->ins[0]->type->sequence_type);
    EXPECT(t, QB_ERR_UNSUPPORTED, "graph input 'X' is not a tensor");
    t = tm_new(17);
    {
        static const int64_t dn[2] = {1, -4};
        t->g.input[t->g.n_input++] = tm_vi(t, "X", F32, 2, dn, NULL);
    }
    EXPECT(t, QB_ERR_INVALID, "graph input 'X' has dimension 1 = -4");
    t = tm_new(17);
    t->g.output[t->g.n_output++] = tm_vi(t, "", F32, 1, d1, NULL);
    EXPECT(t, QB_ERR_INVALID, "graph output 0 has no name");
    t = tm_new(17);
    t->g.output[t->g.n_output++] = tm_vi(t, "Y", F32, 1, d1, NULL);
    t->g.output[t->g.n_output++] = tm_vi(t, "Y", F32, 1, d1, NULL);
    EXPECT(t, QB_ERR_INVALID, "graph output 'Y' is listed twice");
    t = tm_new(17);
    t->g.value_info[t->g.n_value_info++] = tm_vi(t, "", F32, 1, d1, NULL);
    EXPECT(t, QB_ERR_INVALID, "value_info 0 has no name");

    t = tm_new(17);
    tm_node(t, NULL, "anon", S("X"), S("Y"));
    EXPECT(t, QB_ERR_INVALID, "node 0 ('anon') has no op_type");
    t = tm_new(17);
    n = tm_node(t, "Relu", "r", S("X"), S("Y"));
    tm_attr(t, n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->has_f = 1;
    tm_attr(t, n, "beta", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->has_f = 1;
    tm_attr(t, n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)->has_i = 1;
    EXPECT(t, QB_ERR_INVALID, "node 'r' (Relu): attribute 'alpha' is given twice");
    t = tm_new(17);
    n = tm_node(t, "Relu", "r", S("X"), S("Y"));
    tm_attr(t, n, "", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    EXPECT(t, QB_ERR_INVALID, "node 'r' (Relu): attribute 0 has no name");
    t = tm_new(17);
    n = tm_node(t, "Relu", "r", S("X"), S("Y"));
    tm_attr(t, n, "alpha", 0);
    EXPECT(t, QB_ERR_INVALID, "attribute 'alpha' has no type and no value");
    t = tm_new(17);
    n = tm_node(t, "Relu", "r", S("X"), S("Y"));
    tm_attr(t, n, "alpha", 42);
    EXPECT(t, QB_ERR_INVALID, "attribute 'alpha' has unknown type 42");
    t = tm_new(17);
    n = tm_node(t, "Relu", "r", S("X"), S("Y"));
    tm_attr(t, n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->ref_attr_name = tm_str(t, "outer");
    EXPECT(t, QB_ERR_INVALID, "refers to 'outer' of an enclosing function");
    t = tm_new(17);
    n = tm_node(t, "Constant", "c", NONE, S("Y"));
    tm_attr(t, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    EXPECT(t, QB_ERR_INVALID, "node 'c' (Constant): attribute 'value' is a tensor but holds none");
    t = tm_new(17);
    n = tm_node(t, "Constant", "c", NONE, S("Y"));
    a = tm_attr(t, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tm_tensor(t, NULL, F32, 1, d1);
    tm_raw(t, a->t, &one, 3);
    EXPECT(t, QB_ERR_INVALID, "node 'c' (Constant): attribute 'value': raw_data has 3 bytes");
    t = tm_new(17);
    n = tm_node(t, "If", "if", S("c"), S("Y"));
    tm_attr(t, n, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    EXPECT(t, QB_ERR_INVALID, "attribute 'then_branch' is a graph but holds none");
    /* a tensor attribute's constant never steals a node output's name */
    t = tm_new(17);
    n = tm_node(t, "Constant", "c", NONE, S("K"));
    a = tm_attr(t, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tm_tensor(t, NULL, F32, 1, d1);
    tm_raw(t, a->t, &one, 4);
    tm_node(t, "Relu", "r", S("K"), S("c.value"));
    {
        struct qb_error err = {0};
        struct qb_graph *g = load_model(t, &err);
        CHECK(g != NULL);
        if (g) {
            const struct qb_attr *at = qb_node_attr(&g->nodes[0], "value");
            CHECK(strcmp(g->values[at->u.tensor].name, "c.value#0.0") == 0);
            CHECK(value(g, "c.value") && value(g, "c.value")->producer == 1);
            qb_graph_free(g);
        }
    }
}

/* ---- external data ------------------------------------------------------------------ */

static struct tm *ext_model(const char *location, const char *offset, const char *length)
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

/* Writes the model as DIR/model.onnx and loads it from there. */
static void expect_ext(const char *dir, struct tm *t, enum qb_status want, const char *frag, int line)
{
    char path[512];
    size_t len;
    uint8_t *buf = tm_pack(t, &len);
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    enum qb_status st;

    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    write_file(path, buf, len);
    st = qb_onnx_load(path, &g, &err);
    n_checks++;
    if (st != want || (want != QB_OK && (!starts_with(err.msg, path) || !strstr(err.msg, frag)))) {
        n_failed++;
        fprintf(stderr, "%s:%d: expected %s containing '%s', got %s: %s\n", __FILE__, line, qb_status_str(want),
                frag, qb_status_str(st), err.msg);
    }
    if (st == QB_OK) {
        const struct qb_value *v = value(g, "E");
        CHECK(v && v->data && ((const float *)v->data)[0] == 1.0f && ((const float *)v->data)[3] == -4.0f);
    }
    qb_graph_free(g);
    free(buf);
    tm_free(t);
}

#define EXPECT_EXT(dir, t, st, frag) expect_ext((dir), (t), (st), (frag), __LINE__)

static void test_external_data(void)
{
    char dir[300], outside[300], path[700], target[700];
    static const float junk[2] = {9, 9}, data[4] = {1, 2, 3, -4};
    unsigned char file[24];

    snprintf(dir, sizeof(dir), "%s/model", tmpdir);
    snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
    if (mkdir(dir, 0700) != 0 || mkdir(outside, 0700) != 0) {
        fprintf(stderr, "test_loader: mkdir: %s\n", strerror(errno));
        exit(2);
    }
    memcpy(file, junk, 8);
    memcpy(file + 8, data, 16);
    snprintf(path, sizeof(path), "%s/w.bin", dir);
    write_file(path, file, sizeof(file));
    snprintf(path, sizeof(path), "%s/d.bin", outside);
    write_file(path, data, sizeof(data));
    snprintf(path, sizeof(path), "%s/sub", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/sub/w.bin", dir);
    write_file(path, data, sizeof(data));
    snprintf(path, sizeof(path), "%s/link.bin", dir);
    snprintf(target, sizeof(target), "%s/d.bin", outside);
    CHECK(symlink(target, path) == 0);
    snprintf(path, sizeof(path), "%s/linkdir", dir);
    CHECK(symlink(outside, path) == 0);
    snprintf(path, sizeof(path), "%s/inner.bin", dir);
    CHECK(symlink("sub/w.bin", path) == 0); /* a link that stays inside is fine */

    EXPECT_EXT(dir, ext_model("w.bin", "8", "16"), QB_OK, "");
    EXPECT_EXT(dir, ext_model("w.bin", "8", NULL), QB_OK, ""); /* length: the rest of the file */
    EXPECT_EXT(dir, ext_model("sub/w.bin", NULL, NULL), QB_OK, "");
    EXPECT_EXT(dir, ext_model("./sub//w.bin", "0", "16"), QB_OK, "");
    EXPECT_EXT(dir, ext_model("inner.bin", NULL, NULL), QB_OK, "");
    EXPECT_EXT(dir, ext_model("../outside/d.bin", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("sub/../../outside/d.bin", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("..", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("/etc/passwd", NULL, NULL), QB_ERR_INVALID, "is an absolute path");
    EXPECT_EXT(dir, ext_model(target, NULL, NULL), QB_ERR_INVALID, "is an absolute path");
    EXPECT_EXT(dir, ext_model("link.bin", NULL, NULL), QB_ERR_INVALID, "outside the model's folder");
    EXPECT_EXT(dir, ext_model("linkdir/d.bin", NULL, NULL), QB_ERR_INVALID, "outside the model's folder");
    EXPECT_EXT(dir, ext_model("sub", NULL, NULL), QB_ERR_INVALID, "is not a regular file");
    EXPECT_EXT(dir, ext_model("nope.bin", NULL, NULL), QB_ERR_IO, "external data file 'nope.bin'");
    EXPECT_EXT(dir, ext_model("w.bin", "8", "12"), QB_ERR_INVALID, "external data has 12 bytes, but dims [4]");
    EXPECT_EXT(dir, ext_model("w.bin", NULL, NULL), QB_ERR_INVALID, "external data has 24 bytes");
    EXPECT_EXT(dir, ext_model("w.bin", "100", "16"), QB_ERR_INVALID, "offset 100 is past the end");
    EXPECT_EXT(dir, ext_model("w.bin", "16", "16"), QB_ERR_INVALID, "runs past the end");
    EXPECT_EXT(dir, ext_model("w.bin", "-1", "16"), QB_ERR_INVALID, "offset '-1' is not a non-negative integer");
    EXPECT_EXT(dir, ext_model("w.bin", "8", "16x"), QB_ERR_INVALID, "length '16x'");
    EXPECT_EXT(dir, ext_model("w.bin", "99999999999999999999", NULL), QB_ERR_INVALID, "offset");
    EXPECT_EXT(dir, ext_model(NULL, "8", "16"), QB_ERR_INVALID, "initializer 'E': external data has no location");
    EXPECT_EXT(dir, ext_model("", NULL, NULL), QB_ERR_INVALID, "has no location");
    {
        struct tm *t = ext_model("w.bin", "8", "16");
        t->inits[0]->has_raw_data = 1;
        t->inits[0]->raw_data.len = 16;
        t->inits[0]->raw_data.data = tm_dup(t, data, 16);
        EXPECT_EXT(dir, t, QB_ERR_INVALID, "more than one of raw_data");
    }
    /* from memory: refused without a folder, read with one */
    {
        struct tm *t = ext_model("w.bin", "8", "16");
        size_t len;
        uint8_t *buf = tm_pack(t, &len);
        struct qb_graph *g = NULL;
        struct qb_error err = {0};
        expect_buf(buf, len, NULL, QB_ERR_UNSUPPORTED, "initializer 'E': uses external data, which is refused",
                   __LINE__);
        CHECK(qb_onnx_load_buffer(buf, len, "mem.onnx", dir, &g, &err) == QB_OK);
        CHECK(g && ((const float *)value(g, "E")->data)[2] == 3.0f);
        qb_graph_free(g);
        free(buf);
        tm_free(t);
    }
}

/* ---- hostile bytes ------------------------------------------------------------------ */

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct bytes *b, const void *src, size_t n)
{
    if (!n)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(2);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_varint(struct bytes *b, uint64_t v)
{
    uint8_t c;
    do {
        c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        put(b, &c, 1);
    } while (v);
}

/* field number f, length-delimited, wrapping inner */
static struct bytes wrap(int f, struct bytes inner)
{
    struct bytes b = {0};
    put_varint(&b, (uint64_t)f << 3 | 2);
    put_varint(&b, inner.n);
    put(&b, inner.p, inner.n);
    free(inner.p);
    return b;
}

static void test_hostile_bytes(void)
{
    static const uint8_t garbage[] = "this is not a protobuf at all \xff\xff\xff";
    static const uint8_t group[] = {0x0b, 0x0c};
    struct bytes b = {0};
    size_t len;
    uint8_t *model;

    expect_buf("", 0, NULL, QB_ERR_PARSE, "the file is empty", __LINE__);
    expect_buf(garbage, sizeof(garbage) - 1, NULL, QB_ERR_PARSE, "not an ONNX model or truncated", __LINE__);
    expect_buf(group, sizeof(group), NULL, QB_ERR_PARSE, "unsupported wire type", __LINE__);
    /* the length check comes before any byte is read */
    expect_buf(garbage, ((size_t)1 << 31) + 1, NULL, QB_ERR_UNSUPPORTED, "2 GiB", __LINE__);

    /* Model.graph -> (Graph.node -> Node.attribute -> Attribute.g)* : 3 levels per round */
    for (int i = 0; i < 30; i++)
        b = wrap(1, wrap(5, wrap(6, b)));
    b = wrap(7, b);
    expect_buf(b.p, b.n, NULL, QB_ERR_UNSUPPORTED, "refused: messages nested more than 64 levels", __LINE__);
    free(b.p);
    b = (struct bytes){0};

    /* 1,000,001 empty nodes */
    for (int i = 0; i <= 1000000; i++)
        put(&b, "\x0a\x00", 2);
    b = wrap(7, b);
    expect_buf(b.p, b.n, NULL, QB_ERR_UNSUPPORTED, "more than 1000000 nodes", __LINE__);
    free(b.p);
    b = (struct bytes){0};

    /* the graph given 10 times (protobuf-c would merge each one into the last) */
    for (int i = 0; i < 10; i++)
        put(&b, "\x3a\x00", 2);
    expect_buf(b.p, b.n, NULL, QB_ERR_PARSE, "field 'graph' given more than", __LINE__);
    free(b.p);

    /* a field whose length runs past the end */
    {
        struct tm *t = base_model();
        model = tm_pack(t, &len);
        tm_free(t);
        memcpy(model + len, "\x3a\x10", 2); /* graph: 16 bytes follow, but only 1 does */
        model[len + 2] = 0;
        expect_buf(model, len + 3, NULL, QB_ERR_PARSE, "field 'graph' runs past the end", __LINE__);
        free(model);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Any outcome is fine except a crash, a leak (ASan), a graph on failure, or a
 * message that does not start with the path. */
static int try_load(const uint8_t *buf, size_t len, bool parse_or_invalid_only, size_t *loaded)
{
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    enum qb_status st = qb_onnx_load_buffer(buf, len, "fuzzed.onnx", NULL, &g, &err);
    int ok = 1;

    if (st == QB_OK) {
        ok = g != NULL && g->n_nodes >= 0;
        (*loaded)++;
    } else {
        ok = g == NULL && starts_with(err.msg, "fuzzed.onnx: ") && err.status == st;
        if (parse_or_invalid_only && st != QB_ERR_PARSE && st != QB_ERR_INVALID)
            ok = 0;
    }
    if (!ok)
        fprintf(stderr, "  len %zu: %s: %s\n", len, qb_status_str(st), err.msg);
    qb_graph_free(g);
    return ok;
}

static void test_truncation_and_flips(void)
{
    struct tm *t = base_model();
    size_t len, bad = 0, loaded = 0;
    uint8_t *model = tm_pack(t, &len), *copy = malloc(len);

    tm_free(t);
    for (size_t n = 0; n < len; n++) {
        memcpy(copy, model, n);
        bad += !try_load(copy, n, true, &loaded);
    }
    CHECK(bad == 0);
    printf("test_loader: %zu truncated prefixes of a %zu-byte model: %zu loaded, the rest refused cleanly\n",
           len, len, loaded);

    bad = loaded = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = len;
        int flips = 1 + (int)(rng() % 4);
        memcpy(copy, model, len);
        for (int f = 0; f < flips; f++)
            copy[rng() % len] = (uint8_t)rng();
        if (rng() % 4 == 0)
            n = (size_t)(rng() % len);
        bad += !try_load(copy, n, false, &loaded);
    }
    CHECK(bad == 0);
    printf("test_loader: 20000 models with flipped bytes: %zu loaded, the rest refused cleanly\n", loaded);
    free(copy);
    free(model);
}

static void test_files(void)
{
    char path[512];
    struct qb_error err = {0};
    struct qb_graph *g = (struct qb_graph *)&err;
    int fd;

    snprintf(path, sizeof(path), "%s/empty.onnx", tmpdir);
    write_file(path, "", 0);
    CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_PARSE && g == NULL && strstr(err.msg, "the file is empty") &&
          starts_with(err.msg, path));
    CHECK(qb_onnx_load(tmpdir, &g, &err) == QB_ERR_IO && strstr(err.msg, "not a regular file"));
    snprintf(path, sizeof(path), "%s/missing.onnx", tmpdir);
    CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_IO && starts_with(err.msg, path) &&
          strstr(err.msg, "No such file"));
    /* a sparse file just over 2 GiB: refused from its size, never read */
    snprintf(path, sizeof(path), "%s/huge.onnx", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0 && ftruncate(fd, ((off_t)1 << 31) + 1) == 0) {
        close(fd);
        CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_UNSUPPORTED && strstr(err.msg, "over protobuf's 2 GiB limit"));
        unlink(path);
    } else if (fd >= 0) {
        close(fd);
    }
    {
        struct tm *t = base_model();
        size_t len;
        uint8_t *buf = tm_pack(t, &len);
        tm_free(t);
        snprintf(path, sizeof(path), "%s/base.onnx", tmpdir);
        write_file(path, buf, len);
        free(buf);
        CHECK(qb_onnx_load(path, &g, &err) == QB_OK && g && strcmp(g->path, path) == 0 && g->n_nodes == 4);
        qb_graph_free(g);
    }
}

/* ---- tensor files -------------------------------------------------------------------- */

static void test_tensor_files(void)
{
    static const char *root = "/usr/share/libonnx-testdata/data/node";
    struct qb_arena *arena = qb_arena_new();
    struct qb_error err = {0};
    enum qb_dtype dt;
    int ndim, n_ok = 0, n_refused = 0, n_other = 0, n_files = 0;
    int64_t shape[QB_MAX_DIMS];
    void *data;
    const char *name;
    char path[1024];
    DIR *d;

    /* one written here: int32_data carrying float16 bits */
    {
        Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
        int64_t dims[2] = {1, 2};
        int32_t bits[2] = {0x3c00, 0x4000};
        uint8_t *buf;
        t.name = (char *)"h";
        t.has_data_type = 1;
        t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
        t.n_dims = 2;
        t.dims = dims;
        t.n_int32_data = 2;
        t.int32_data = bits;
        buf = malloc(protobuf_c_message_get_packed_size(&t.base));
        snprintf(path, sizeof(path), "%s/h.pb", tmpdir);
        write_file(path, buf, protobuf_c_message_pack(&t.base, buf));
        free(buf);
        CHECK(qb_onnx_read_tensor_file(path, arena, &dt, &ndim, shape, &data, &name, &err) == QB_OK);
        CHECK(dt == QB_DTYPE_F16 && ndim == 2 && shape[1] == 2 && ((const uint16_t *)data)[1] == 0x4000 &&
              strcmp(name, "h") == 0);
        write_file(path, "\x12", 1);
        CHECK(qb_onnx_read_tensor_file(path, arena, &dt, &ndim, shape, &data, &name, &err) == QB_ERR_PARSE &&
              starts_with(err.msg, path) && strstr(err.msg, "not an ONNX tensor or truncated"));
    }
    snprintf(path, sizeof(path), "%s/test_abs/test_data_set_0/input_0.pb", root);
    if (access(path, R_OK) != 0) {
        printf("test_loader: SKIPPED the conformance tensor files: %s not found\n", path);
        qb_arena_free(arena);
        return;
    }
    CHECK(qb_onnx_read_tensor_file(path, arena, &dt, &ndim, shape, &data, &name, &err) == QB_OK);
    CHECK(dt == QB_DTYPE_F32 && ndim == 3 && shape[0] == 3 && shape[1] == 4 && shape[2] == 5 &&
          strcmp(name, "x") == 0 && isfinite(((const float *)data)[59]));

    if (!(d = opendir(root)))
        return;
    for (struct dirent *e; (e = readdir(d));) {
        for (int k = 0; k < 8; k++) {
            const char *kind[2] = {"input", "output"};
            enum qb_status st;
            snprintf(path, sizeof(path), "%s/%s/test_data_set_0/%s_%d.pb", root, e->d_name, kind[k & 1], k / 2);
            if (access(path, R_OK) != 0)
                continue;
            n_files++;
            st = qb_onnx_read_tensor_file(path, arena, &dt, &ndim, shape, &data, &name, &err);
            if (st == QB_OK)
                n_ok++;
            else if (st == QB_ERR_UNSUPPORTED)
                n_refused++;
            else
                n_other++;
            CHECK(st == QB_OK || starts_with(err.msg, path));
        }
        if (n_files % 256 == 0) { /* keep the arena small */
            qb_arena_free(arena);
            arena = qb_arena_new();
        }
    }
    closedir(d);
    qb_arena_free(arena);
    printf("test_loader: conformance tensor files: %d read, %d refused as unsupported, %d not tensors "
           "(sequence/optional protos), of %d\n", n_ok, n_refused, n_other, n_files);
    CHECK(n_files > 1000 && n_ok > n_files * 9 / 10);
}

/* ---- seeds for the fuzzer -------------------------------------------------------------- */

static void write_seeds(const char *dir)
{
    struct tm *models[3];
    static const int64_t d[4] = {1, 2, 2, 2}, shape2[2] = {1, 8};
    static const float w[2] = {0.5f, -1.0f};
    static const int64_t new_shape[2] = {1, 8};
    char path[1024];
    struct tm *t;

    models[0] = base_model();
    /* static shapes that prepare can get through once the ops exist */
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "x", F32, 4, d, NULL);
    t->g.output[t->g.n_output++] = tm_vi(t, "y", F32, 2, shape2, NULL);
    {
        static const int64_t wd[4] = {1, 2, 1, 1};
        tm_init_f32(t, "w", 4, wd, w, 2);
    }
    {
        Onnx__TensorProto *s = tm_tensor(t, "shape", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, (int64_t[]){2});
        s->n_int64_data = 2;
        s->int64_data = tm_dup(t, new_shape, sizeof(new_shape));
        t->g.initializer[t->g.n_initializer++] = s;
    }
    tm_node(t, "Mul", "mul", S("x", "w"), S("a"));
    tm_node(t, "Relu", "relu", S("a"), S("b"));
    tm_node(t, "Sigmoid", "sig", S("b"), S("c"));
    tm_node(t, "Reshape", "reshape", S("c", "shape"), S("y"));
    models[1] = t;
    t = tm_new(17);
    t->g.input[t->g.n_input++] = tm_vi(t, "x", F32, 4, d, NULL);
    t->g.output[t->g.n_output++] = tm_vi(t, "y", F32, 4, d, NULL);
    {
        Onnx__NodeProto *n = tm_node(t, "Conv", "conv", S("x", "w"), S("c"));
        static const int64_t wd[4] = {2, 2, 1, 1}, k[2] = {1, 1};
        static const float wv[4] = {1, 0, 0, 1};
        Onnx__AttributeProto *a = tm_attr(t, n, "kernel_shape", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
        a->n_ints = 2;
        a->ints = tm_dup(t, k, sizeof(k));
        tm_init_f32(t, "w", 4, wd, wv, 4);
        n = tm_node(t, "Concat", "cat", S("c", "x"), S("cc"));
        a = tm_attr(t, n, "axis", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
        a->has_i = 1;
        a->i = 1;
        n = tm_node(t, "MaxPool", "pool", S("cc"), S("p"));
        a = tm_attr(t, n, "kernel_shape", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
        a->n_ints = 2;
        a->ints = tm_dup(t, k, sizeof(k));
        tm_node(t, "Transpose", "tr", S("p"), S("y"));
    }
    models[2] = t;
    for (int i = 0; i < 3; i++) {
        size_t len;
        uint8_t *buf = tm_pack(models[i], &len);
        snprintf(path, sizeof(path), "%s/seed_%d.onnx", dir, i);
        write_file(path, buf, len);
        free(buf);
        tm_free(models[i]);
    }
    printf("test_loader: wrote 3 seed models to %s\n", dir);
}

/* Bad models for command-line tests: each must be refused with exit status 2. */
static void write_bad(const char *dir)
{
    static const int64_t d4[1] = {4};
    static const float w[3] = {1, 2, 3};
    char path[1024];
    size_t len;
    uint8_t *buf;
    struct tm *t;

    t = base_model();
    buf = tm_pack(t, &len);
    tm_free(t);
    snprintf(path, sizeof(path), "%s/truncated.onnx", dir);
    write_file(path, buf, len / 2);
    free(buf);

    t = tm_new(0);
    tm_node(t, "Relu", "r", S("X"), S("Y"));
    buf = tm_pack(t, &len);
    tm_free(t);
    snprintf(path, sizeof(path), "%s/no-opset.onnx", dir);
    write_file(path, buf, len);
    free(buf);

    t = tm_new(17);
    tm_init_f32(t, "W", 1, d4, w, 3);
    buf = tm_pack(t, &len);
    tm_free(t);
    snprintf(path, sizeof(path), "%s/count-mismatch.onnx", dir);
    write_file(path, buf, len);
    free(buf);

    t = ext_model("../../../../etc/passwd", NULL, NULL);
    buf = tm_pack(t, &len);
    tm_free(t);
    snprintf(path, sizeof(path), "%s/external-escape.onnx", dir);
    write_file(path, buf, len);
    free(buf);
    printf("test_loader: wrote 4 bad models to %s\n", dir);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    char path[1024];
    struct stat sb;

    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *seeds = getenv("QB_LOADER_WRITE_SEEDS"), *bad = getenv("QB_LOADER_WRITE_BAD");

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qb_test_loader.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "test_loader: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    test_yolo_fixture();
    test_base_model();
    test_typed_initializers();
    test_bad_initializers();
    test_bad_graphs();
    test_external_data();
    test_hostile_bytes();
    test_truncation_and_flips();
    test_files();
    test_tensor_files();
    if (seeds)
        write_seeds(seeds);
    if (bad)
        write_bad(bad);
    remove_tree(tmpdir);
    printf("test_loader: %d checks, %d failed\n", n_checks, n_failed);
    return n_failed ? 1 : 0;
}
