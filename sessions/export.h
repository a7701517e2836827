/* Exports of a resolved plan for the tools that build the deployed engine (issue 7,
 * DESIGN.md "Sessions and exports"):
 *  - modelopt: the `python -m modelopt.onnx.quantization` command and the same as a
 *    `quantize(...)` call. ModelOpt matches --nodes_to_exclude as regular expressions
 *    from the start of a name (re.match), so each name is escaped and anchored with
 *    `$`: it excludes that node and no other. An op type whose every quantizable node
 *    stays FP16 goes to --op_types_to_exclude instead of listing its nodes. The op-set
 *    goes to --op_types_to_quantize (`core`: Conv ConvTranspose Gemm MatMul); the
 *    `modelopt` op-set is ModelOpt's default, where ModelOpt, not the plan, decides
 *    per graph pattern which Add/Mul/pool nodes it quantizes (said in a comment).
 *  - trtexec: TensorRT 10 flags `--int8 --fp16 --precisionConstraints=obey
 *    --layerPrecisions=NAME:fp16,...` (the ONNX parser names layers after nodes).
 *  - json: the plan's FP16 nodes and op types, INT8 nodes, op-set and hashes.
 *  - txt: one FP16 node name per line, after comment lines.
 * Every node name in an export is the model's own, byte for byte.
 */
#ifndef QB_EXPORT_H
#define QB_EXPORT_H

#include "core/exec.h"
#include "core/plan.h"

enum qb_export_format {
    QB_EXPORT_MODELOPT = 0,
    QB_EXPORT_TRTEXEC,
    QB_EXPORT_JSON,
    QB_EXPORT_TXT,
    QB_EXPORT_COUNT
};

extern const char *const qb_export_format_names[QB_EXPORT_COUNT];

struct qb_export_input {
    const struct qb_graph *g;
    const char *model;             /* the model path as the user gave it */
    const char *model_sha256;      /* 64 hex digits, or NULL */
    const struct qb_plan_spec *spec;
    const enum qb_prec *prec;      /* the resolved plan (qb_plan_resolve) */
    const char *calib_method;      /* "entropy", "max" ... or NULL */
    const char *trt_cache;         /* a TensorRT calibration cache for trtexec --calib, or NULL */
};

/* The export as text in *out (malloc'd, NUL-terminated). Errors: a name that the
 * format cannot carry (trtexec: ',' ':' '*' in a layer name). */
enum qb_status qb_export(const struct qb_export_input *in, enum qb_export_format f, char **out, struct qb_error *err);

#endif
