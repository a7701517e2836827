/* Datasets: an Ultralytics data.yaml, its class names and the entries of one split
 * (core/dataset.h describes what is accepted). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "dataset_internal.h"
#include "fileio.h"

struct yaml_src {
    const char *file;
    yaml_document_t doc;
};

static yaml_node_t *ynode(struct yaml_src *y, int id)
{
    return yaml_document_get_node(&y->doc, id);
}

static const char *yscalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool ynull(const yaml_node_t *n)
{
    const char *s = yscalar(n);
    return !n || (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                  (!*s || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0));
}

/* the value of key in a mapping (the last one, as PyYAML keeps) */
static yaml_node_t *yget(struct yaml_src *y, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = yscalar(ynode(y, p->key));
        if (k && strcmp(k, key) == 0)
            v = ynode(y, p->value);
    }
    return v;
}

static int yline(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static bool parse_long(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return s[0] && !*end && errno == 0;
}

static enum qb_status yaml_names(struct qb_dataset *ds, struct yaml_src *y, yaml_node_t *root,
                                 struct qb_error *err)
{
    yaml_node_t *names = yget(y, root, "names"), *ncn = yget(y, root, "nc");
    long nc = 0;
    int n = 0;

    if (!ynull(ncn) && (!yscalar(ncn) || !parse_long(yscalar(ncn), &nc) || nc < 1 || nc > INT_MAX / 2))
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: nc must be a positive integer", y->file, yline(ncn));
    if (ynull(names)) {
        ds->nc = (int)nc;
        return QB_OK;
    }
    if (names->type == YAML_SEQUENCE_NODE)
        n = (int)(names->data.sequence.items.top - names->data.sequence.items.start);
    else if (names->type == YAML_MAPPING_NODE)
        n = (int)(names->data.mapping.pairs.top - names->data.mapping.pairs.start);
    else
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names must be a list or a map {0: name, ...}", y->file,
                         yline(names));
    if (n < 1)
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names is empty", y->file, yline(names));
    if (nc && nc != n)
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names has %d entries but nc is %ld", y->file, yline(names), n,
                         nc);
    if (!(ds->names = qb_arena_calloc(ds->arena, (size_t)n, sizeof(*ds->names))))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    for (int i = 0; i < n; i++) {
        yaml_node_t *kn = NULL, *vn;
        long k = i;
        if (names->type == YAML_SEQUENCE_NODE) {
            vn = ynode(y, names->data.sequence.items.start[i]);
        } else {
            kn = ynode(y, names->data.mapping.pairs.start[i].key);
            vn = ynode(y, names->data.mapping.pairs.start[i].value);
            if (!yscalar(kn) || !parse_long(yscalar(kn), &k) || k < 0 || k >= n)
                return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names: key '%s' is not a class index 0-%d", y->file,
                                 yline(kn), yscalar(kn) ? yscalar(kn) : "?", n - 1);
            if (ds->names[k])
                return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names: class %ld given twice", y->file, yline(kn), k);
        }
        if (!yscalar(vn))
            return qb_errorf(err, QB_ERR_PARSE, "%s:%d: names: class %ld is not a plain name", y->file, yline(vn),
                             k);
        if (!(ds->names[k] = qb_arena_strdup(ds->arena, yscalar(vn))))
            return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    }
    ds->nc = n;
    return QB_OK;
}

/* one split entry against the root, as Ultralytics' check_det_dataset resolves it */
static enum qb_status yaml_entry(struct qb_arena *a, struct qb_ds_listing *l, struct yaml_src *y, const char *root,
                                 const char *split, yaml_node_t *n, struct qb_error *err)
{
    const char *s = yscalar(n);
    char *p, *r;

    if (!s || !*s)
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: %s: expected a path or a list of paths", y->file, yline(n),
                         split);
    if (!(p = qb_ds_join(a, root, s)))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    r = qb_ds_real(a, p);
    if (!r && errno == ENOENT && strncmp(s, "../", 3) == 0) {
        char *q = qb_ds_join(a, root, s + 3);
        r = q ? qb_ds_real(a, q) : NULL;
    }
    if (!r) {
        qb_ds_note_looked(l, p);
        return qb_errorf(err, errno == ENOMEM ? QB_ERR_NOMEM : QB_ERR_IO, "%s:%d: %s: %s: %s", y->file, yline(n),
                         split, p, strerror(errno));
    }
    return qb_ds_list_source(a, l, r, err);
}

enum qb_status qb_ds_open_yaml(struct qb_dataset *ds, struct qb_ds_listing *l, const char *file, const char *split,
                               struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct yaml_src y = {.file = file};
    yaml_parser_t parser;
    bool parser_ok = false, doc_ok = false;
    char *buf = NULL;
    size_t len;
    const char *root;

    if ((st = qb_file_read(file, SIZE_MAX, &buf, &len, err)) != QB_OK)
        return st;
    if (!(parser_ok = yaml_parser_initialize(&parser))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", file);
        goto out;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!(doc_ok = yaml_parser_load(&parser, &y.doc))) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s:%lu:%lu: bad YAML: %s%s%s", file,
                       (unsigned long)parser.problem_mark.line + 1, (unsigned long)parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "error", parser.context ? " " : "",
                       parser.context ? parser.context : "");
        goto out;
    }
    yaml_node_t *top = yaml_document_get_root_node(&y.doc);
    if (!top || top->type != YAML_MAPPING_NODE) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: not a dataset description (expected a mapping with path, %s, names)",
                       file, split);
        goto out;
    }
    if ((st = yaml_names(ds, &y, top, err)) != QB_OK)
        goto out;

    /* root: `path:` against the yaml's folder (Ultralytics: the working directory
     * if it exists there, else its datasets dir); none: the yaml's folder */
    yaml_node_t *pn = yget(&y, top, "path");
    const char *ydir = qb_ds_dir_of(ds->arena, file);
    root = ynull(pn) ? ydir : (yscalar(pn) && ydir ? qb_ds_join(ds->arena, ydir, yscalar(pn)) : NULL);
    if (!root) {
        st = pn && !yscalar(pn) ? qb_errorf(err, QB_ERR_PARSE, "%s:%d: path must be a folder name", file, yline(pn))
                                : qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
        goto out;
    }

    yaml_node_t *sn = yget(&y, top, split);
    const bool named = sn != NULL;
    if (!sn && strcmp(split, "val") == 0)
        sn = yget(&y, top, "validation");
    if (ynull(sn)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: no '%s' split (the file %s it)", file, split,
                       named ? "leaves empty" : "does not name");
        goto out;
    }
    if (sn->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = sn->data.sequence.items.start; it < sn->data.sequence.items.top; it++)
            if ((st = yaml_entry(ds->arena, l, &y, root, split, ynode(&y, *it), err)) != QB_OK)
                goto out;
    } else if ((st = yaml_entry(ds->arena, l, &y, root, split, sn, err)) != QB_OK) {
        goto out;
    }
out:
    if (doc_ok)
        yaml_document_delete(&y.doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    free(buf);
    return st;
}

