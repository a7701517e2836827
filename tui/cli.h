/* Shared pieces of the command-line front end (a thin layer over core/). */
#ifndef QB_CLI_H
#define QB_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/graph.h"

/* Exit codes (DESIGN.md): 0 ok, 1 failed run, 2 bad usage or input. */
enum { QB_EXIT_OK = 0, QB_EXIT_FAIL = 1, QB_EXIT_USAGE = 2 };

/* Maps a status to the exit code the synopsis promises. */
int qb_cli_exit_code(enum qb_status st);

/* Options every model-taking command understands. */
struct qb_cli_model_opts {
    const char *shapes[8];   /* "NAME=1,3,640,640" overrides for symbolic inputs */
    int n_shapes;
    int threads;             /* 0 = all cores */
    const char *device;      /* --device; NULL = cpu (the executor checks the name) */
};

/* Parses a common model option at argv[*i] (advancing *i past its value).
 * Returns 1 if consumed, 0 if not a common option, -1 on a usage error (printed). */
int qb_cli_model_opt(int argc, char **argv, int *i, struct qb_cli_model_opts *o);

/* Loads, applies shape overrides and prepares. Prints the error; returns NULL on failure
 * with *st set. */
struct qb_graph *qb_cli_load(const char *path, const struct qb_cli_model_opts *o, enum qb_status *st);

/* A metadata_props value of the model, or NULL. */
const char *qb_cli_meta(const struct qb_graph *g, const char *key);

/* Class names from Ultralytics metadata ("names": {0: 'a', 1: 'b'}): returns their
 * count and a malloc'd array in *names (free with qb_cli_free_names), or 0 and NULL
 * when the model has none or they do not parse. */
int qb_cli_model_names(const struct qb_graph *g, char ***names);
void qb_cli_free_names(char **names, int n);

/* Writes a cJSON tree (a cJSON *) to path, "-" for stdout. */
struct cJSON;
enum qb_status qb_cli_write_json(const char *path, struct cJSON *root, struct qb_error *err);

/* Monotonic seconds. */
double qb_cli_now(void);

int qb_cmd_info(int argc, char **argv);
int qb_cmd_run(int argc, char **argv);
int qb_cmd_bench(int argc, char **argv);
int qb_cmd_demo_data(int argc, char **argv);
int qb_cmd_eval(int argc, char **argv);
int qb_cmd_calib(int argc, char **argv);
int qb_cmd_pack(int argc, char **argv);
int qb_cmd_sens(int argc, char **argv);
int qb_cmd_search(int argc, char **argv);
int qb_cmd_export(int argc, char **argv);
int qb_cmd_tui(int argc, char **argv);

#endif
