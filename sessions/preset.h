/* Session presets (DESIGN.md "Sessions and exports"; issue 7): what a workbench
 * session needs to be picked up again, as a versioned JSON file.
 *
 *     struct qb_preset p;
 *     qb_preset_init(&p);
 *     if (qb_preset_load("cones.qbpreset.json", &p, &err) != QB_OK) ...  // err names the JSON path
 *     if (qb_preset_check_model(&p, sha256_of_model_file, &err) != QB_OK) ... // another model: refused
 *     ... p.model, p.source.data, p.calib.table, p.plan (a struct qb_plan_spec) ...
 *     qb_preset_add_build(&p, &(struct qb_preset_build){.what = "rebuild", ...}, &err);
 *     qb_preset_save("cones.qbpreset.json", &p, &err);  // atomic: temp file, fsync, rename
 *     qb_preset_free(&p);
 *
 * The file (every key is always written, null where unset, so that a load and a save
 * give back the same bytes):
 *     {
 *       "format": "qbench-preset", "version": 1,
 *       "model": {"path": "/abs/yolo12n-cones.onnx", "sha256": "<64 hex>"},
 *       "data": {"data": "/abs/data.yaml", "split": "val", "images": null, "pack": null,
 *                "images_max": 200},
 *       "calibration": {"table": "/abs/calib.json", "data": null, "split": null, "images": null,
 *                       "method": "entropy", "percentile": null, "images_max": 500},
 *       "eval_images": 0,
 *       "plan": {"default": "int8", "op_set": "core", "fp16_op_types": [],
 *                "fp16_nodes": ["/model.23/dfl/conv/Conv"], "int8_nodes": []},
 *       "builds": [{"what": "rebuild", "time": "2026-11-24T06:35:00Z", "executor": "cpu-sim",
 *                   "device": "cpu, 2 threads", "plan_hash": "<64 hex>", "n_int8": 102,
 *                   "n_fp16": 34, "cost": 0.523, "images": 200, "map50": 0.8758,
 *                   "map50_95": 0.6215, "precision": 0.91, "recall": 0.78, "fid50_95": 0.93,
 *                   "sqnr_db": 31.2, "latency_ms": 412.5,
 *                   "plan": {... as "plan" above ...}}]
 *     }
 * Paths are stored absolute (made so on save: an absolute path is kept, a relative one
 * resolved with realpath() when it exists, else joined onto the working folder), so a
 * preset can be loaded from anywhere. Numbers that are unknown (NaN) are null, and so
 * are unset strings and hashes; numbers are written with the digits that read back
 * exactly. A missing key reads as unset (null; 0 for counts), except "format" and
 * "version". Unknown keys, wrong types and bad values are errors naming the file and
 * the JSON path ("p.json: $.builds[3].map50: expected a number or null"); a file from
 * a newer qbench (version > QB_PRESET_VERSION) is refused; a failed load leaves nothing
 * half filled that matters (free the preset either way), and a failed save leaves the
 * previous file untouched.
 */
#ifndef QB_PRESET_H
#define QB_PRESET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/plan.h"
#include "core/status.h"

#define QB_PRESET_FORMAT "qbench-preset"
#define QB_PRESET_VERSION 1

/* The evaluation images: one of data (data.yaml, image folder or list), images (a
 * folder of unlabelled images) and pack. Strings owned, NULL when unset. */
struct qb_preset_source {
    char *data, *split, *images, *pack;
    long images_max;             /* 0: all */
};

/* Calibration: the table used (table), and how it was or is to be made (the rest;
 * NULL / 0 / NAN where not known). Strings owned. */
struct qb_preset_calib {
    char *table;
    char *data, *split, *images;
    char *method;                /* "max" "percentile" "entropy" "mse", or NULL */
    double percentile;           /* NAN: the method's default */
    long images_max;
};

/* One build (an evaluated plan) and its metrics. NAN where not measured. */
struct qb_preset_build {
    char *what;                  /* "rebuild", "search: top 12 in FP16", "all FP16" ... (owned) */
    char *time;                  /* UTC, "2026-11-24T06:35:00Z" (owned; NULL: set by add_build) */
    char *executor;              /* "cpu-sim" ... (owned) */
    char *device;                /* "cpu, 2 threads" ... (owned) */
    char plan_hash[65];
    int n_int8, n_fp16;
    double cost;                 /* BOPs relative to all-FP16 */
    long images;
    double map50, map50_95, precision, recall, fid50_95, sqnr_db, latency_ms;
    struct qb_plan_spec plan;    /* the plan as rules (owned) */
};

struct qb_preset {
    int version;
    char *model;                 /* path (owned) */
    char model_sha256[65];       /* 64 hex digits */
    struct qb_preset_source source;
    struct qb_preset_calib calib;
    long eval_images;            /* images a rebuild evaluates; 0: all loaded */
    struct qb_plan_spec plan;    /* the current plan */
    int n_builds, cap_builds;
    struct qb_preset_build *builds;
};

/* Empty: strings NULL, hashes "", counts 0, percentile NAN, plan the FP32 reference
 * (a zeroed spec), version QB_PRESET_VERSION. free leaves p so (free twice is fine). */
void qb_preset_init(struct qb_preset *p);
void qb_preset_free(struct qb_preset *p);

/* Reads and checks path into p (qb_preset_init'ed here; free it even on failure).
 * Plan rules are checked for syntax (qb_plan_spec_add), not against a model: that is
 * qb_plan_resolve's job once the model is loaded. Each rule's origin names where it
 * was written ("p.json: $.builds[2].plan.fp16_nodes[0]"), for resolve's messages.
 * Files over 64 MiB or with more than 100000 builds are refused. */
enum qb_status qb_preset_load(const char *path, struct qb_preset *p, struct qb_error *err);
/* The same from text in memory (text[len] must be the NUL; file names it in messages). */
enum qb_status qb_preset_from_text(const char *text, size_t len, const char *file, struct qb_preset *p,
                                   struct qb_error *err);

/* QB_ERR_INVALID, naming both hashes and the preset's model path, when the preset was
 * made for another model file than the one whose sha256 is given. A preset that
 * records no hash (null) is not refused. */
enum qb_status qb_preset_check_model(const struct qb_preset *p, const char *model_sha256, struct qb_error *err);

/* The preset as JSON text (malloc'd), what qb_preset_save writes. Values the loader
 * would refuse (a bad hash, method or percentile, a negative count) are QB_ERR_INVALID
 * naming the JSON path; nothing is written then. */
enum qb_status qb_preset_to_text(const struct qb_preset *p, char **out, struct qb_error *err);

/* Writes p to path atomically (core/fileio.h): a failure leaves path as it was. */
enum qb_status qb_preset_save(const char *path, const struct qb_preset *p, struct qb_error *err);

/* Appends a deep copy of b (time filled in when NULL; the plan copied as by
 * qb_preset_copy_plan). */
enum qb_status qb_preset_add_build(struct qb_preset *p, const struct qb_preset_build *b, struct qb_error *err);

/* Sets a string field: frees *dst, copies src (NULL allowed). */
enum qb_status qb_preset_set_str(char **dst, const char *src, struct qb_error *err);

/* Copies a plan spec (default, rules, op-set and the *_given flags; origins, path and
 * file_hash dropped) into dst (initialised here; dst is not src). */
enum qb_status qb_preset_copy_plan(struct qb_plan_spec *dst, const struct qb_plan_spec *src, struct qb_error *err);

#endif
