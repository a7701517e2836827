/* The ONNX loader on models and tensors: the real YOLO11n fixture, small models
 * built in memory with protobuf-c (every initializer dtype, attributes, opsets,
 * metadata, and what is wrong with bad initializers and bad graphs), and
 * TensorProto files (the conformance suite's). Every refusal must carry the path
 * first. Hostile input and external data: test_loader_hostile.c.
 *
 *   test_loader                 run everything
 *   QB_LOADER_WRITE_SEEDS=DIR   also write the small models into DIR (fuzz seeds)
 *   QB_LOADER_WRITE_BAD=DIR     also write bad models into DIR (tests/data/bad)
 */
#include <math.h>

#include "testutil_onnx.h"

static char tmpdir[256];

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
        uint8_t *buf = tm_pack_free(t, &len);
        struct qb_graph *g = NULL;
        CHECK(qb_onnx_load_buffer(buf, len, "x", NULL, &g, NULL) == QB_OK && g && g->opset == 13);
        qb_graph_free(g);
        free(buf);
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
        snprintf(path, sizeof(path), "%s/seed_%d.onnx", dir, i);
        tm_write(models[i], path);
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

    buf = tm_pack_free(base_model(), &len);
    snprintf(path, sizeof(path), "%s/truncated.onnx", dir);
    write_file(path, buf, len / 2);
    free(buf);

    t = tm_new(0);
    tm_node(t, "Relu", "r", S("X"), S("Y"));
    snprintf(path, sizeof(path), "%s/no-opset.onnx", dir);
    tm_write(t, path);

    t = tm_new(17);
    tm_init_f32(t, "W", 1, d4, w, 3);
    snprintf(path, sizeof(path), "%s/count-mismatch.onnx", dir);
    tm_write(t, path);

    snprintf(path, sizeof(path), "%s/external-escape.onnx", dir);
    tm_write(ext_model("../../../../etc/passwd", NULL, NULL), path);
    printf("test_loader: wrote 4 bad models to %s\n", dir);
}

int main(void)
{
    const char *seeds = getenv("QB_LOADER_WRITE_SEEDS"), *bad = getenv("QB_LOADER_WRITE_BAD");

    make_tmpdir(tmpdir, sizeof(tmpdir), "test_loader");
    test_yolo_fixture();
    test_base_model();
    test_typed_initializers();
    test_bad_initializers();
    test_bad_graphs();
    test_tensor_files();
    if (seeds)
        write_seeds(seeds);
    if (bad)
        write_bad(bad);
    remove_tree(tmpdir);
    return test_summary("test_loader");
}
