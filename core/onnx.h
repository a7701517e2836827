/* The ONNX loader: a .onnx file (protobuf ModelProto) into a struct qb_graph.
 *
 *     struct qb_graph *g;
 *     struct qb_error err = {0};
 *     if (qb_onnx_load("yolo11n.onnx", &g, &err) != QB_OK) {
 *         fprintf(stderr, "qbench: %s\n", err.msg);   // "yolo11n.onnx: ..."
 *         return;
 *     }
 *     ...                                             // qb_graph_prepare(g, &err) ...
 *     qb_graph_free(g);
 *
 * What the graph holds after loading (everything lives in g->arena):
 *  - graph inputs that are not initializers: QB_VALUE_INPUT, declared dtype and
 *    shape (-1 plus dim_param for symbolic dimensions; ndim -1 when undeclared);
 *  - graph outputs: QB_VALUE_OUTPUT, declared dtype and shape when present;
 *  - initializers: QB_VALUE_CONST|QB_VALUE_INIT, data as contiguous little-endian
 *    elements of their qb_dtype (STRING tensors: an array of numel `const char *`);
 *  - value_info shapes for intermediates that have no other information;
 *  - nodes with op_type, domain ("" for the default domain, "ai.onnx" included),
 *    value indices (-1 for an omitted ""), attributes; a TENSOR attribute becomes
 *    a QB_VALUE_CONST value named "<node>.<attr>" that attr.u.tensor points to;
 *  - g->opset (the default domain's version), g->opsets, ir_version, producer,
 *    graph name and metadata_props in g->meta.
 *
 * Hostile files are refused with a message, never a crash: files over 2 GiB,
 * empty or truncated files, protobuf nested deeper than 64 levels, more than
 * 1,000,000 nodes, element counts that do not match the dims, external data
 * outside the model's folder. Every message starts with the file path and names
 * the node, op, tensor or field it is about.
 */
#ifndef QB_ONNX_H
#define QB_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "dtype.h"
#include "graph.h"
#include "status.h"

/* Loads a model file. External data is read relative to the file's folder.
 * On success *out owns everything (qb_graph_free); on failure *out is NULL. */
enum qb_status qb_onnx_load(const char *path, struct qb_graph **out, struct qb_error *err);

/* Loads a model from memory (data is not kept). path_for_messages starts every
 * message and becomes g->path ("<memory>" when NULL). base_dir is the folder
 * that external data paths are relative to; NULL refuses external data. */
enum qb_status qb_onnx_load_buffer(const void *data, size_t len, const char *path_for_messages,
                                   const char *base_dir, struct qb_graph **out, struct qb_error *err);

/* Reads a serialized TensorProto file (the ONNX conformance suite's input_0.pb /
 * output_0.pb). The data (laid out as for initializers) and the name ("" when
 * the file has none) are allocated in arena; shape[] gets ndim entries. */
enum qb_status qb_onnx_read_tensor_file(const char *path, struct qb_arena *arena, enum qb_dtype *dtype,
                                        int *ndim, int64_t shape[QB_MAX_DIMS], void **data,
                                        const char **name, struct qb_error *err);

#endif
