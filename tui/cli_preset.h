/* --preset P on the headless commands (issue 7): a session preset (sessions/preset.h,
 * saved by the TUI) stands for the options it records, and options given on the
 * command line win over it:
 *
 *     struct qb_cli_preset cp = {0};
 *     for (int i = 1; i < argc; i++) {
 *         int r = qb_cli_preset_opt(argc, argv, &i, &cp);   // --preset P
 *         ...
 *     }
 *     if (qb_cli_preset_load(&cp, "eval", &model) != QB_OK)  // printed; exit with
 *         goto out;                                          // qb_cli_exit_code (2)
 *     qb_cli_preset_str(&calib, qb_cli_preset_get(&cp)->calib.table);  // only if not given
 *     if (qb_cli_preset_plan(&cp, &plan) < 0) ...            // before qb_cli_plan_finish
 *     ...
 *     qb_cli_preset_free(&cp);                               // after the last use of a filled string
 *
 * The model: without MODEL the preset's, with MODEL it must be the preset's (same
 * sha256); either way the file's sha256 must be the one the preset recorded, so a
 * preset made for another model file is refused before anything is read or written.
 * Filled strings point into the preset: it must outlive them.
 */
#ifndef QB_CLI_PRESET_H
#define QB_CLI_PRESET_H

#include <stdbool.h>

#include "cli_source.h"
#include "core/plan.h"
#include "sessions/preset.h"

struct qb_cli_preset {
    const char *path;            /* --preset P; NULL when not given */
    const char *model;           /* the model's path once loaded (the preset's, or MODEL) */
    char model_sha256[65];       /* of that file, once loaded */
    bool held;                   /* p was initialised (free it) */
    bool loaded;                 /* p holds the preset */
    struct qb_preset p;
};

/* One usage line for every command that takes it. */
#define QB_CLI_PRESET_USAGE                                                                                   \
    "  --preset S: a session preset (saved by qbench tui) gives the model and whatever else of the above\n"    \
    "              the command line leaves out; options given win over it, MODEL must be the preset's\n"

/* Parses --preset P at argv[*i]: 1 consumed, 0 not it, -1 usage error (printed). */
int qb_cli_preset_opt(int argc, char **argv, int *i, struct qb_cli_preset *cp);

/* Loads the preset when one was given (else does nothing) and settles the model:
 * *model NULL becomes the preset's, a given *model must have the preset's sha256, and
 * the file's sha256 must be the one the preset recorded. Errors are printed as
 * "qbench CMD: ..." (naming the preset and, for a bad file, its JSON path); the
 * status maps to exit 2 through qb_cli_exit_code. */
enum qb_status qb_cli_preset_load(struct qb_cli_preset *cp, const char *cmd, const char **model);

/* The loaded preset, or NULL (none given). */
const struct qb_preset *qb_cli_preset_get(const struct qb_cli_preset *cp);

void qb_cli_preset_free(struct qb_cli_preset *cp);

/* *dst = src where *dst is NULL (the option was not given). */
void qb_cli_preset_str(const char **dst, const char *src);

/* The evaluation images: the preset's source (data and split, images or pack) and its
 * images_max when none of --data, --images, --pack was given. A --split given alone
 * stays. */
void qb_cli_preset_source(const struct qb_cli_preset *cp, struct qb_cli_source *s);

/* The plan: when no --int8/--fp16/--fp32/--plan was given, the preset's (its default,
 * op-set and rules, named by their place in the preset for messages), with the rules
 * and --op-set given on the command line added. Call before qb_cli_plan_finish.
 * Returns 0, or -1 with the message printed. */
int qb_cli_preset_plan(const struct qb_cli_preset *cp, struct qb_plan_spec *s);

#endif
