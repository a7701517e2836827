/* The evaluation images of the commands that run many plans over them (sens,
 * search): --data D.yaml [--split S] | --images DIR | --pack P, held in memory
 * (core/evalset.h) after the model is checked against them. */
#ifndef QB_CLI_SOURCE_H
#define QB_CLI_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/dataset.h"
#include "core/detect.h"
#include "core/evalset.h"
#include "core/graph.h"
#include "core/pack.h"

struct qb_cli_source {
    const char *data, *split, *images, *pack;
    size_t max;                  /* --images-max; 0: all */
    enum qb_letterbox_mode mode;
};

/* Parses a source option at argv[*i]: 1 consumed, 0 not one, -1 usage error (printed). */
int qb_cli_source_opt(int argc, char **argv, int *i, struct qb_cli_source *s);
/* Exactly one of --data, --images, --pack: 0, else -1 (printed). */
int qb_cli_source_check(const struct qb_cli_source *s);

struct qb_cli_loaded {
    const char *name;            /* the path given */
    struct qb_dataset *ds;
    struct qb_pack *pack;
    struct qb_evalset *set;
    struct qb_detect_opts detect;
    int nc, batch, w, h;
    enum qb_letterbox_mode mode;
    size_t max;
};

/* A detector's shape: one float [B,3,H,W] input and a detect head as output 0 (its
 * layout, nc from the model's names when it has n_names > 0). */
enum qb_status qb_cli_detect_model(const struct qb_graph *g, int n_names, int *batch, int *h, int *w,
                                   struct qb_detect_layout *layout, struct qb_error *err);

/* Opens the dataset or pack (before the model, so that a wrong path fails first). */
enum qb_status qb_cli_source_open(const struct qb_cli_source *s, struct qb_cli_loaded *l, struct qb_error *err);
/* Checks the model against it: one float [B,3,H,W] input, a detect head, label classes
 * within the model's, a pack made for this input size. */
enum qb_status qb_cli_source_model(struct qb_cli_loaded *l, const struct qb_graph *g, struct qb_error *err);
/* Reads the images into l->set (progress on stderr unless quiet). */
enum qb_status qb_cli_source_load(struct qb_cli_loaded *l, const struct qb_graph *g, bool quiet,
                                  struct qb_error *err);
void qb_cli_source_close(struct qb_cli_loaded *l);

#endif
