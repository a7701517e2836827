/* Private to the dataset reader (core/dataset.c, dataset_yaml.c, dataset_labels.c);
 * not part of the API.
 *
 * dataset.c lists paths (folders, list files, single images) into a listing, turns
 * the sorted listing into items and holds the public API; dataset_yaml.c resolves a
 * data.yaml's names and split entries into that listing; dataset_labels.c reads and
 * checks one image's label file and appends its rows to the dataset. */
#ifndef QB_DATASET_INTERNAL_H
#define QB_DATASET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "dataset.h"

#define QB_DS_LOOKED_MAX 900 /* characters of "paths looked at" kept for the empty-dataset error */

struct qb_ds_item;    /* one image file or video frame (dataset.c) */
struct qb_ds_listing; /* paths found while opening (dataset.c) */

struct qb_dataset {
    struct qb_arena *arena;
    struct qb_ds_item *items;
    size_t n_items, cap_items;
    struct qb_label *labels;
    size_t n_labels, cap_labels;
    const char **names;
    int nc;
    int max_class;
    bool from_yaml;
    struct qb_dataset_stats stats;
};

/* ---- dataset.c ---- */

/* Makes room for need elements of elem bytes in the malloc'd *p (capacity *cap). */
bool qb_ds_grow(void **p, size_t *cap, size_t need, size_t elem);
/* dir + "/" + rel ("./" prefixes of rel dropped); rel when absolute. In the arena. */
char *qb_ds_join(struct qb_arena *a, const char *dir, const char *rel);
/* folder of a file path ("." when it has none), in the arena */
char *qb_ds_dir_of(struct qb_arena *a, const char *path);
/* realpath() into the arena; NULL with errno set when the path does not exist */
char *qb_ds_real(struct qb_arena *a, const char *path);
/* Remembers path for the empty-dataset error. */
void qb_ds_note_looked(struct qb_ds_listing *l, const char *path);
/* One source into the listing: a folder, an image, or a list file (path absolute, existing). */
enum qb_status qb_ds_list_source(struct qb_arena *a, struct qb_ds_listing *l, const char *path,
                                 struct qb_error *err);

/* ---- dataset_yaml.c ---- */

/* Reads a data.yaml: names/nc into ds, the entries of split into l. */
enum qb_status qb_ds_open_yaml(struct qb_dataset *ds, struct qb_ds_listing *l, const char *file, const char *split,
                               struct qb_error *err);

/* ---- dataset_labels.c ---- */

enum qb_ds_lab_state { QB_DS_LAB_OK, QB_DS_LAB_MISSING, QB_DS_LAB_CORRUPT };

/* Reads, checks and appends the labels of image img to ds->labels (stats and
 * max_class updated). *state says what was found, *n_out how many rows were kept.
 * A corrupt label file is a warning and QB_DS_LAB_CORRUPT, not an error. */
enum qb_status qb_ds_read_labels(struct qb_dataset *ds, const char *img, enum qb_ds_lab_state *state, int *n_out,
                                 struct qb_error *err);

#endif
