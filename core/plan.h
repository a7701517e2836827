/* Precision plans: which nodes run INT8 and which FP16 (DESIGN.md "Vocabulary").
 *
 * A plan is written as a spec (a default, an op-set and rules) and resolved against
 * a prepared graph into one precision per node, the array the executor takes
 * (struct qb_exec_opts.prec):
 *
 *     struct qb_plan_spec s;
 *     qb_plan_spec_init(&s, QB_PREC_INT8);                    // op-set INT8, rest FP16
 *     qb_plan_spec_set_op_set(&s, "modelopt+Sigmoid", NULL, &err);
 *     qb_plan_spec_add(&s, QB_PLAN_FP16_NODE, "re:/model\\.23/.*", NULL, &err);
 *     enum qb_prec *prec = malloc(g->n_nodes * sizeof(*prec));
 *     qb_plan_resolve(&s, g, prec, NULL, &err);               // errors name the rule
 *     qb_plan_hash(g, prec, hex);                             // "3f2a9c0d1b2e..."
 *     qb_plan_spec_free(&s);
 *
 * The spec:
 *  - default (base): INT8 = every node of the op-set INT8, every other node FP16;
 *    FP16 = every node FP16; FP32 = the reference (no plan: rules are refused).
 *  - op-set: which op types the INT8 default quantizes, written as items joined by
 *    '+': named sets `core` (Conv, ConvTranspose, Gemm, MatMul) and `modelopt` (the
 *    types NVIDIA ModelOpt's ONNX PTQ quantizes by default) and ONNX op types:
 *    "core", "modelopt+Sigmoid", "core+Resize+Concat". Default "core".
 *  - rules: op types kept in FP16 (`fp16-op Sigmoid`), node names kept in FP16
 *    (`fp16-node NAME`) and node names forced to INT8 (`int8-node NAME`). A node
 *    name is exact, or with the prefix "re:" a POSIX extended regular expression
 *    that must match the whole name: "re:/model\.23/.*" is every node under
 *    /model.23/ ("re:/model.23/" matches no node, since it is anchored at both ends).
 *
 * Precedence, highest first (the rules' order does not matter):
 *    1. exact node names (fp16-node / int8-node); a name in both lists is an error
 *    2. regular expressions: int8-node over fp16-node where both match a node
 *    3. fp16-op types
 *    4. the default: INT8 for op-set members that read and write float data, else FP16
 * Only nodes that read a float activation and write a float output can run INT8;
 * the op-set skips the others, an exact int8-node on one is an error, and an
 * int8-node regex forces the float nodes it matches (at least one).
 * Every rule must match a runtime node of the model, and every op type added to a
 * named op-set must occur in it: a typo is an error naming the rule, not silence.
 */
#ifndef QB_PLAN_H
#define QB_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "exec.h"
#include "graph.h"
#include "status.h"

struct cJSON;

/* NOTE: append only: the names below are written in plan files. */
enum qb_plan_rule_kind {
    QB_PLAN_FP16_OP = 0,   /* op type kept in FP16 */
    QB_PLAN_FP16_NODE,     /* node name or "re:REGEX" kept in FP16 */
    QB_PLAN_INT8_NODE,     /* node name or "re:REGEX" forced to INT8 */
    QB_PLAN_RULE_COUNT
};

/* "fp16-op", "fp16-node", "int8-node" (the CLI options without dashes, the text form). */
const char *qb_plan_rule_name(enum qb_plan_rule_kind k);
/* "fp32", "fp16", "int8" */
const char *qb_plan_prec_name(enum qb_prec p);

struct qb_plan_rule {
    enum qb_plan_rule_kind kind;
    char *pattern;  /* op type, node name, or "re:" + regex (owned) */
    char *origin;   /* where it was written, for messages: "plan.json: $.fp16_nodes[2]",
                       "plan.txt:4", "--fp16-node"; owned, may be NULL */
};

/* Plain data; qb_plan_spec_free() frees the strings and rules. A zeroed spec is the
 * FP32 reference with the core op-set. */
struct qb_plan_spec {
    enum qb_prec base;        /* the default: QB_PREC_INT8, QB_PREC_FP16 or QB_PREC_FP32 */
    char *op_set;             /* NULL = "core" (owned) */
    char *op_set_origin;      /* where the op-set was written, or NULL (owned) */
    int n_rules, cap_rules;
    struct qb_plan_rule *rules;
    /* Bookkeeping for the front ends and loaders. */
    bool base_given;          /* a --int8/--fp16/--fp32/--plan (or a file) set base */
    bool op_set_given;        /* an --op-set (or a file) set op_set */
    char *path;               /* the plan file it was loaded from, or NULL (owned) */
    char file_hash[65];       /* the resolved hash the file recorded, or "" */
};

void qb_plan_spec_init(struct qb_plan_spec *s, enum qb_prec base);
void qb_plan_spec_free(struct qb_plan_spec *s);

/* Sets the op-set after checking its syntax and items (copied). origin may be NULL. */
enum qb_status qb_plan_spec_set_op_set(struct qb_plan_spec *s, const char *op_set, const char *origin,
                                       struct qb_error *err);
/* Adds a rule after checking it (an op type qbench knows, a regex that compiles, a
 * name not in the other list). An identical rule already there is not added twice.
 * pattern and origin are copied; origin may be NULL. */
enum qb_status qb_plan_spec_add(struct qb_plan_spec *s, enum qb_plan_rule_kind kind, const char *pattern,
                                const char *origin, struct qb_error *err);

/* Op-sets --------------------------------------------------------------------- */

/* The op types of a named set ("core", "modelopt"), NULL-terminated; NULL for another name. */
const char *const *qb_plan_op_set_named(const char *name);
/* Checks the syntax of an op-set ("modelopt+Sigmoid"): QB_ERR_USAGE naming the bad item. */
enum qb_status qb_plan_op_set_check(const char *op_set, struct qb_error *err);
/* True when op_type is in the op-set (NULL = "core"); the op-set must have passed the check. */
bool qb_plan_op_set_has(const char *op_set, const char *op_type);
/* True when a node can run INT8: it reads a float activation and writes a float output. */
bool qb_plan_node_int8_capable(const struct qb_graph *g, const struct qb_node *n);

/* Resolving ------------------------------------------------------------------- */

/* Fills prec[g->n_nodes] (folded nodes QB_PREC_FP32) and, when why is not NULL,
 * why[g->n_nodes]: the index in s->rules of the rule that decided each node, or -1
 * when the default did. g must be prepared. Errors (QB_ERR_USAGE) name the rule and
 * its origin: a name or op type that matches no runtime node, int8-node on a node
 * without float data, rules on the FP32 reference. When the spec came from a file that
 * recorded a different resolved hash, logs a warning (another model, or other rules). */
enum qb_status qb_plan_resolve(const struct qb_plan_spec *s, const struct qb_graph *g, enum qb_prec *prec,
                               int *why, struct qb_error *err);

/* sha256 of the resolved plan as 64 hex digits and a NUL (print the first 12):
 * over "NAME\0PREC\n" of every runtime node in graph (file) order, PREC as
 * qb_plan_prec_name(). It depends on the precisions only, not on how the rules were
 * written; key caches by (model sha256, plan hash). */
void qb_plan_hash(const struct qb_graph *g, const enum qb_prec *prec, char hex[65]);

/* The spec that resolves to prec (the reverse of qb_plan_resolve): default INT8 with
 * op_set (NULL = core), whose resolution is dflt, plus fp16-node for each node dflt
 * runs INT8 and prec does not, and int8-node for the reverse, by exact name. s is
 * initialised here (free it even on failure). Presets, exports and --out-plan use it. */
enum qb_status qb_plan_spec_from_prec(const struct qb_graph *g, const char *op_set, const enum qb_prec *dflt,
                                      const enum qb_prec *prec, struct qb_plan_spec *s, struct qb_error *err);

/* Printing -------------------------------------------------------------------- */

/* One line: "plan 3f2a9c0d1b2e: 86 INT8 (Conv 84, MatMul 2), 233 FP16 (kept by
 * rules: Conv 4; 229 outside the op-set); op-set core". Returns buf. */
const char *qb_plan_summary(const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                            char *buf, size_t len);
/* The caveat to show with the summary and in exports when the op-set includes
 * `modelopt` and the plan runs INT8, or NULL. */
const char *qb_plan_note(const struct qb_plan_spec *s);

/* Files ----------------------------------------------------------------------- */

/* JSON (the default):
 *     {
 *       "format": "qbench-plan", "version": 1,
 *       "default": "int8",                       // int8 | fp16 | fp32
 *       "op_set": "modelopt+Sigmoid",            // optional, default "core"
 *       "fp16_op_types": ["Softmax"],            // optional
 *       "fp16_nodes": ["re:/model\\.23/.*"],     // optional
 *       "int8_nodes": ["/model.23/cv3.0/cv3.0.2/Conv"],  // optional
 *       "resolved": {"model": "yolo11n.onnx", "hash": "<64 hex>", "int8": 86, "fp16": 233,
 *                    "nodes": [{"index": 0, "name": "/model.0/conv/Conv", "op": "Conv",
 *                               "precision": "int8"}, ...]}   // optional, for reference
 *     }
 * Text (one rule per line; '#' starts a comment line):
 *     default int8
 *     op-set modelopt+Sigmoid
 *     fp16-op Softmax
 *     fp16-node re:/model\.23/.*
 *     int8-node /model.23/cv3.0/cv3.0.2/Conv
 * The loader tells them apart by the first character ('{' is JSON). Unknown keys,
 * wrong types and bad values are errors naming the file and the JSON path
 * ("plan.json: $.fp16_nodes[2]: ...") or the line. Loaded rules keep that origin. */
enum qb_plan_format {
    QB_PLAN_FORMAT_JSON = 0,
    QB_PLAN_FORMAT_TEXT,
    QB_PLAN_FORMAT_COUNT
};

/* The rule keys as a JSON object, shared by plan files and the plans in session
 * presets (sessions/preset.h). qb_plan_spec_from_json reads "default" (required),
 * "op_set", "fp16_op_types", "fp16_nodes" and "int8_nodes" (optional) of obj into s
 * (initialised by the caller) and sets base_given (and op_set_given with an op_set).
 * obj's other keys are errors unless listed in extra (NULL-terminated; NULL for
 * none), and so are repeated keys. path is obj's JSON path ("$", "$.builds[2].plan"):
 * errors read "file: $.builds[2].plan.fp16_nodes[1]: ...", and each rule keeps
 * that origin for qb_plan_resolve's messages. */
enum qb_status qb_plan_spec_from_json(const struct cJSON *obj, const char *file, const char *path,
                                      const char *const *extra, struct qb_plan_spec *s, struct qb_error *err);
/* Adds those five keys to obj, in that order (op_set "core" when NULL; the rules in
 * their order within each list). */
enum qb_status qb_plan_spec_to_json(const struct qb_plan_spec *s, struct cJSON *obj, struct qb_error *err);

/* Loads into s (initialised here; freed by the caller even on failure). */
enum qb_status qb_plan_load(const char *path, struct qb_plan_spec *s, struct qb_error *err);
/* Writes atomically (temporary file in the same folder, fsync, rename); nothing is
 * overwritten on failure. g and prec are optional: with both, a JSON file also
 * records the resolved per-node list and its hash (the loader reads them back only
 * to warn when the plan resolves differently). */
enum qb_status qb_plan_save(const char *path, enum qb_plan_format fmt, const struct qb_plan_spec *s,
                            const struct qb_graph *g, const enum qb_prec *prec, struct qb_error *err);

#endif
