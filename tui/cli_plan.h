/* The command-line options that build a precision plan (eval, bench, calib, sens),
 * a thin layer over core/plan.h:
 *
 *     struct qb_plan_spec plan = {0};          // zeroed: no plan, the FP32 reference
 *     for (int i = 1; i < argc; i++) {
 *         int r = qb_cli_plan_opt(argc, argv, &i, &plan);
 *         if (r < 0) goto usage;               // the message is printed
 *         if (r) continue;
 *         ...
 *     }
 *     if (qb_cli_plan_finish(&plan) < 0) goto usage;
 *     ...                                      // load and prepare the model
 *     enum qb_prec *prec;                      // NULL for the FP32 reference
 *     if (qb_cli_plan_resolve(g, &plan, stdout, verbose, &prec) != QB_OK) goto fail;
 *     exec_opts.prec = prec;
 *     ...
 *     free(prec);
 *     qb_plan_spec_free(&plan);
 */
#ifndef QB_CLI_PLAN_H
#define QB_CLI_PLAN_H

#include <stdbool.h>
#include <stdio.h>

#include "core/plan.h"

#define QB_CLI_PLAN_USAGE                                                                    \
    "[--fp32 | --fp16 | --int8 [--op-set SET] | --plan FILE]\n"                              \
    "       [--fp16-op TYPE]... [--fp16-node NAME|re:REGEX]... [--int8-node NAME|re:REGEX]...\n" \
    "  SET: core | modelopt, widened with '+': modelopt+Sigmoid, core+Resize+Concat\n"        \
    "  re:REGEX: a POSIX extended regular expression matching the whole node name\n"

/* Parses a plan option at argv[*i] (advancing *i past its value): --plan FILE,
 * --int8, --fp16, --fp32, --op-set SET, --fp16-op TYPE, --fp16-node NAME|re:REGEX,
 * --int8-node NAME|re:REGEX (the last three repeatable; rules may be added to a
 * --plan). Returns 1 if consumed, 0 if not a plan option, -1 on a usage error
 * (printed). */
int qb_cli_plan_opt(int argc, char **argv, int *i, struct qb_plan_spec *s);

/* Checks the combination once every option is parsed: rules need --int8, --fp16 or
 * --plan; --op-set needs --int8. Returns 0, or -1 with the message printed. */
int qb_cli_plan_finish(const struct qb_plan_spec *s);

/* Resolves s against g, and prints the summary line, the ModelOpt note where it
 * applies and, when verbose, the per-node table to f (NULL: print nothing). *prec
 * is malloc'd (g->n_nodes entries; the caller frees it), or NULL for the FP32
 * reference. Errors are printed to stderr. */
enum qb_status qb_cli_plan_resolve(const struct qb_graph *g, const struct qb_plan_spec *s, FILE *f, bool verbose,
                                   enum qb_prec **prec);

/* The summary, the note and (verbose) the table: index, name, op, precision and
 * what decided it (why[] from qb_plan_resolve, may be NULL). */
void qb_cli_plan_print(FILE *f, const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                       const int *why, bool verbose);

/* The amax per value (g->n_values entries, malloc'd) that the INT8 nodes of prec
 * read, from the calibration table at calib (made for the model file at model:
 * its sha256 is checked). *amax = NULL when no node runs INT8; an INT8 node and
 * no table is a usage error that says to give --calib. */
enum qb_status qb_cli_plan_amax(const struct qb_graph *g, const char *model, const char *calib,
                                const enum qb_prec *prec, float **amax, struct qb_error *err);

/* What run and bench share: resolves the plan (summary to f), reads the calibration
 * its INT8 nodes need and builds an executor on mo's device and threads. Frees
 * nothing on failure: the caller frees *prec, *amax and *e (NULL or set) either way. */
struct qb_cli_model_opts;
enum qb_status qb_cli_plan_exec(const struct qb_graph *g, const char *model, const struct qb_plan_spec *plan,
                                const char *calib, const struct qb_cli_model_opts *mo, FILE *f, enum qb_prec **prec,
                                float **amax, struct qb_executor **e, struct qb_error *err);

#endif
