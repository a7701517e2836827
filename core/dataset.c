/* Datasets: image lists from data.yaml, folders, list files and videos, with YOLO
 * labels read and checked as Ultralytics does (core/dataset.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "dataset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <dirent.h>
#include <yaml.h>

#include "arena.h"

#define WALK_DEPTH_MAX 64
#define LOOKED_MAX 900 /* characters of "paths looked at" kept for the empty-dataset error */

const char *const qb_dataset_image_exts[] = {"bmp", "dng", "jpeg", "jpg", "mpo", "png",
                                             "tif", "tiff", "webp", "pfm", "heic", NULL};
const char *const qb_dataset_video_exts[] = {"asf", "avi",  "gif", "m4v", "mkv", "mov", "mp4",
                                             "mpeg", "mpg", "ts", "wmv", "webm", NULL};

struct item {
    const char *path; /* in the arena */
    long frame;       /* -1: image file */
    size_t lab_off;
    int n_lab;
};

/* a path found while listing, before sorting and label checks */
struct entry {
    const char *path;
    bool listed; /* from a list file: existence not yet known */
};

struct qb_dataset {
    struct qb_arena *arena;
    struct item *items;
    size_t n_items, cap_items;
    struct qb_label *labels;
    size_t n_labels, cap_labels;
    const char **names;
    int nc;
    int max_class;
    bool from_yaml;
    struct qb_dataset_stats stats;
};

/* paths found while opening */
struct listing {
    struct entry *v;
    size_t n, cap;
    char looked[LOOKED_MAX]; /* where we looked, for the empty-dataset error */
};

/* ---- small helpers ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* extension after the last '.' of the file name, or "" */
static const char *ext_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static bool has_ext(const char *path, const char *const *exts)
{
    const char *e = ext_of(path);
    for (int i = 0; exts[i]; i++)
        if (strcasecmp(e, exts[i]) == 0)
            return true;
    return false;
}

static bool is_yaml(const char *path)
{
    const char *e = ext_of(path);
    return strcasecmp(e, "yaml") == 0 || strcasecmp(e, "yml") == 0;
}

/* dir + "/" + rel ("./" prefixes of rel dropped); rel when absolute */
static char *join(struct qb_arena *a, const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return qb_arena_strdup(a, rel);
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
        while (*rel == '/')
            rel++;
    }
    size_t nd = strlen(dir), nr = strlen(rel);
    while (nd > 1 && dir[nd - 1] == '/')
        nd--;
    char *s = qb_arena_alloc(a, nd + nr + 2);
    if (!s)
        return NULL;
    memcpy(s, dir, nd);
    s[nd] = '/';
    memcpy(s + nd + 1, rel, nr + 1);
    return s;
}

/* Lexically drops "." and "name/.." components and repeated slashes of an absolute
 * path in place (os.path.normpath), so that one file listed two ways is one item. */
static char *normalize(char *path)
{
    char *w = path;
    if (!path || path[0] != '/')
        return path;
    for (const char *r = path; *r;) {
        while (*r == '/')
            r++;
        const char *end = r + strcspn(r, "/");
        size_t n = (size_t)(end - r);
        if (n == 0 || (n == 1 && r[0] == '.')) {
            /* nothing */
        } else if (n == 2 && r[0] == '.' && r[1] == '.') {
            while (w > path && *--w != '/')
                ;
        } else {
            *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r = end;
    }
    if (w == path)
        *w++ = '/';
    *w = '\0';
    return path;
}

/* folder of a file path ("." when it has none) */
static char *dir_of(struct qb_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return qb_arena_strdup(a, ".");
    return qb_arena_strndup(a, path, slash == path ? 1 : (size_t)(slash - path));
}

/* realpath() into the arena; NULL with errno set when the path does not exist */
static char *real(struct qb_arena *a, const char *path)
{
    char *r = realpath(path, NULL), *s;
    if (!r)
        return NULL;
    s = qb_arena_strdup(a, r);
    free(r);
    if (!s)
        errno = ENOMEM;
    return s;
}

static void note_looked(struct listing *l, const char *path)
{
    size_t n = strlen(l->looked);
    if (n + 8 >= sizeof(l->looked))
        return;
    snprintf(l->looked + n, sizeof(l->looked) - n, "%s%s", n ? ", " : "", path);
}

static enum qb_status add_entry(struct listing *l, const char *path, bool listed, struct qb_error *err)
{
    if (!path || !grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    l->v[l->n++] = (struct entry){.path = path, .listed = listed};
    return QB_OK;
}

/* ---- listing: folders, list files ---- */

struct walk_dir {
    dev_t dev;
    ino_t ino;
};

/* every file below dir with one of exts; symbolic links followed, loops cut */
static enum qb_status walk(struct qb_arena *a, struct listing *l, const char *dir, const char *const *exts,
                           struct walk_dir *up, int depth, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct stat sb;
    DIR *d = opendir(dir);

    if (!d)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", dir, strerror(errno));
    up[depth] = (struct walk_dir){0};
    if (fstat(dirfd(d), &sb) == 0) {
        for (int i = 0; i < depth; i++)
            if (up[i].dev == sb.st_dev && up[i].ino == sb.st_ino)
                goto out; /* a link back to an ancestor */
        up[depth] = (struct walk_dir){.dev = sb.st_dev, .ino = sb.st_ino};
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') /* glob skips hidden names, and . and .. */
            continue;
        char *p = join(a, dir, e->d_name);
        if (!p) {
            st = qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
            goto out;
        }
        if (stat(p, &sb) != 0)
            continue; /* dangling link */
        if (S_ISDIR(sb.st_mode)) {
            if (depth + 1 >= WALK_DEPTH_MAX) {
                qb_log(QB_LOG_WARN, "%s: deeper than %d folders, not listed", p, WALK_DEPTH_MAX);
                continue;
            }
            if ((st = walk(a, l, p, exts, up, depth + 1, err)) != QB_OK)
                goto out;
        } else if (S_ISREG(sb.st_mode) && has_ext(p, exts)) {
            if ((st = add_entry(l, p, false, err)) != QB_OK)
                goto out;
        }
    }
out:
    closedir(d);
    return st;
}

static enum qb_status read_file(const char *path, char **buf, size_t *len, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *b = NULL;

    if (!f)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    for (;;) {
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        b = nb;
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
    }
    if (ferror(f)) {
        st = qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    b = NULL;
out:
    free(b);
    fclose(f);
    return st;
}

/* a list file: one path per line, relative ones against the list's folder */
static enum qb_status read_list(struct qb_arena *a, struct listing *l, const char *list, struct qb_error *err)
{
    enum qb_status st;
    char *buf = NULL, *dir = dir_of(a, list), *save = NULL;
    size_t len;

    if (!dir)
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    if ((st = read_file(list, &buf, &len, err)) != QB_OK)
        return st;
    if (memchr(buf, '\0', len)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: a binary file, not a list of image paths (nor an image with a known "
                                          "extension)", list);
        goto out;
    }
    for (char *line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || !has_ext(line, qb_dataset_image_exts))
            continue;
        if ((st = add_entry(l, normalize(join(a, dir, line)), true, err)) != QB_OK)
            goto out;
    }
out:
    free(buf);
    return st;
}

/* one source: a folder, an image, or a list file (path absolute, existing) */
static enum qb_status list_source(struct qb_arena *a, struct listing *l, const char *path, struct qb_error *err)
{
    struct stat sb;
    struct walk_dir up[WALK_DEPTH_MAX];

    note_looked(l, path);
    if (stat(path, &sb) != 0)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return walk(a, l, path, qb_dataset_image_exts, up, 0, err);
    if (has_ext(path, qb_dataset_image_exts))
        return add_entry(l, qb_arena_strdup(a, path), false, err);
    return read_list(a, l, path, err);
}

/* ---- data.yaml ---- */

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
static enum qb_status yaml_entry(struct qb_arena *a, struct listing *l, struct yaml_src *y, const char *root,
                                 const char *split, yaml_node_t *n, struct qb_error *err)
{
    const char *s = yscalar(n);
    char *p, *r;

    if (!s || !*s)
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d: %s: expected a path or a list of paths", y->file, yline(n),
                         split);
    if (!(p = join(a, root, s)))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    r = real(a, p);
    if (!r && errno == ENOENT && strncmp(s, "../", 3) == 0) {
        char *q = join(a, root, s + 3);
        r = q ? real(a, q) : NULL;
    }
    if (!r) {
        note_looked(l, p);
        return qb_errorf(err, errno == ENOMEM ? QB_ERR_NOMEM : QB_ERR_IO, "%s:%d: %s: %s: %s", y->file, yline(n),
                         split, p, strerror(errno));
    }
    return list_source(a, l, r, err);
}

static enum qb_status open_yaml(struct qb_dataset *ds, struct listing *l, const char *file, const char *split,
                                struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct yaml_src y = {.file = file};
    yaml_parser_t parser;
    bool parser_ok = false, doc_ok = false;
    char *buf = NULL;
    size_t len;
    const char *root;

    if ((st = read_file(file, &buf, &len, err)) != QB_OK)
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
    const char *ydir = dir_of(ds->arena, file);
    root = ynull(pn) ? ydir : (yscalar(pn) && ydir ? join(ds->arena, ydir, yscalar(pn)) : NULL);
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

/* ---- labels ---- */

/* one label row: class, then cx cy w h, as float32 as numpy holds them */
struct row {
    float v[5];
};

struct line {
    char *s;
    int no;
};

enum lab_state { LAB_OK, LAB_MISSING, LAB_CORRUPT };

/* image path -> label path: last "/images/" -> "/labels/", extension -> ".txt" */
static char *label_path(const char *img)
{
    const char *hit = NULL;
    for (const char *p = strstr(img, "/images/"); p; p = strstr(p + 1, "/images/"))
        hit = p;
    const char *dot = strrchr(img, '.');
    size_t stem = dot ? (size_t)(dot - img) : strlen(img);
    char *s = malloc(stem + 8);
    if (!s)
        return NULL;
    memcpy(s, img, stem);
    memcpy(s + stem, ".txt", 5);
    if (hit && (size_t)(hit - img) + 8 <= stem)
        memcpy(s + (hit - img), "/labels/", 8);
    return s;
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    for (int i = 0; i < 5; i++)
        if (x->v[i] != y->v[i])
            return x->v[i] < y->v[i] ? -1 : 1;
    return 0;
}

static int count_fields(const char *s)
{
    int n = 0;
    for (;;) {
        s += strspn(s, " \t\v\f");
        if (!*s)
            return n;
        n++;
        s += strcspn(s, " \t\v\f");
    }
}

/* the next whitespace-separated field as a finite number */
static bool next_number(char **s, float *v, char *bad, size_t bad_len)
{
    char *tok = *s + strspn(*s, " \t\v\f"), *end;
    size_t len = strcspn(tok, " \t\v\f");
    char save = tok[len];
    tok[len] = '\0';
    double d = strtod(tok, &end);
    bool ok = end != tok && !*end && isfinite(d) && isfinite((float)d);
    if (!ok)
        snprintf(bad, bad_len, "'%s' is not a finite number", tok);
    tok[len] = save;
    *v = (float)d;
    *s = tok + len;
    return ok;
}

/* Parses one row; returns false with the reason in why. */
static bool parse_row(char *s, bool segments, int nc, struct row *r, char *why, size_t why_len)
{
    int nf = count_fields(s);
    float v;

    if (!segments && nf != 5) {
        snprintf(why, why_len, "%d fields; a label row is 'class cx cy w h'", nf);
        return false;
    }
    if (!next_number(&s, &r->v[0], why, why_len))
        return false;
    if (segments) {
        /* polygon -> its box (ultralytics segments2boxes), in float32 */
        float x1 = INFINITY, y1 = INFINITY, x2 = -INFINITY, y2 = -INFINITY;
        if (nf < 3 || (nf - 1) % 2) {
            snprintf(why, why_len, "a polygon needs x y pairs, got %d coordinates", nf - 1);
            return false;
        }
        for (int i = 1; i < nf; i++) {
            if (!next_number(&s, &v, why, why_len))
                return false;
            if (i % 2) {
                x1 = fminf(x1, v);
                x2 = fmaxf(x2, v);
            } else {
                y1 = fminf(y1, v);
                y2 = fmaxf(y2, v);
            }
        }
        r->v[1] = (x1 + x2) / 2;
        r->v[2] = (y1 + y2) / 2;
        r->v[3] = x2 - x1;
        r->v[4] = y2 - y1;
    } else {
        for (int i = 1; i < 5; i++)
            if (!next_number(&s, &r->v[i], why, why_len))
                return false;
    }
    for (int i = 1; i < 5; i++) {
        /* Ultralytics' 1% tolerance, compared in float32 as numpy does */
        if (r->v[i] > 1.01f || r->v[i] < -0.01f) {
            snprintf(why, why_len, "%s %g outside -0.01..1.01 (not normalised?)",
                     (const char *[]){"", "cx", "cy", "w", "h"}[i], (double)r->v[i]);
            return false;
        }
    }
    if (r->v[0] < 0 || r->v[0] != floorf(r->v[0]) || r->v[0] >= (float)(INT_MAX / 2)) {
        snprintf(why, why_len, "class %g is not a non-negative integer", (double)r->v[0]);
        return false;
    }
    if (nc > 0 && r->v[0] >= (float)nc) {
        snprintf(why, why_len, "class %d but the dataset has %d classes (0-%d)", (int)r->v[0], nc, nc - 1);
        return false;
    }
    return true;
}

/* Splits buf into its non-blank lines (NUL-terminated in place), numbered from 1. */
static enum qb_status split_lines(char *buf, struct line **out, size_t *n_out, struct qb_error *err)
{
    struct line *v = NULL;
    size_t n = 0, cap = 0;
    int no = 1;

    for (char *p = buf; *p;) {
        char *e = p + strcspn(p, "\r\n");
        char brk = *e;
        *e = '\0';
        if (p[strspn(p, " \t\v\f")]) {
            if (!grow((void **)&v, &cap, n + 1, sizeof(*v))) {
                free(v);
                return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
            }
            v[n++] = (struct line){.s = p, .no = no};
        }
        if (!brk)
            break;
        p = e + 1;
        if (brk == '\r' && *p == '\n')
            p++;
        no++;
    }
    *out = v;
    *n_out = n;
    return QB_OK;
}

/* Reads, checks and appends the labels of image img. *state says what was found. */
static enum qb_status read_labels(struct qb_dataset *ds, const char *img, enum lab_state *state, int *n_out,
                                  struct qb_error *err)
{
    enum qb_status st = QB_OK;
    char *lp = label_path(img), *buf = NULL, why[256];
    struct line *lines = NULL;
    struct row *rows = NULL;
    size_t n_lines = 0, len, n = 0;
    struct stat sb;
    bool segments = false;
    struct qb_error ferr;

    *state = LAB_OK;
    *n_out = 0;
    if (!lp)
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    if (stat(lp, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *state = LAB_MISSING;
        goto out;
    }
    if ((st = read_file(lp, &buf, &len, &ferr)) != QB_OK) {
        if (st == QB_ERR_NOMEM) {
            *err = ferr;
            goto out;
        }
        st = QB_OK;
        qb_log(QB_LOG_WARN, "%s; skipping image %s", ferr.msg, img);
        *state = LAB_CORRUPT;
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        qb_log(QB_LOG_WARN, "%s: binary data, not a label file; skipping image %s", lp, img);
        *state = LAB_CORRUPT;
        goto out;
    }
    if ((st = split_lines(buf, &lines, &n_lines, err)) != QB_OK)
        goto out;
    for (size_t i = 0; i < n_lines; i++)
        segments |= count_fields(lines[i].s) > 6;
    if (n_lines && !(rows = malloc(n_lines * sizeof(*rows)))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_lines; i++) {
        if (!parse_row(lines[i].s, segments, ds->nc, &rows[i], why, sizeof(why))) {
            qb_log(QB_LOG_WARN, "%s:%d: %s; skipping image %s", lp, lines[i].no, why, img);
            *state = LAB_CORRUPT;
            goto out;
        }
    }
    /* exact repeats dropped; numpy's unique() then leaves the rows sorted */
    n = n_lines;
    if (n > 1) {
        struct row *sorted = malloc(n * sizeof(*sorted));
        size_t k = 0;
        if (!sorted) {
            st = qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
            goto out;
        }
        memcpy(sorted, rows, n * sizeof(*rows));
        qsort(sorted, n, sizeof(*sorted), row_cmp);
        for (size_t i = 0; i < n; i++)
            if (k == 0 || row_cmp(&sorted[k - 1], &sorted[i]) != 0)
                sorted[k++] = sorted[i];
        if (k < n) {
            qb_log(QB_LOG_WARN, "%s: %zu duplicate labels removed", lp, n - k);
            ds->stats.duplicate_labels += n - k;
            free(rows);
            rows = sorted;
            n = k;
        } else {
            free(sorted);
        }
    }
    if (!grow((void **)&ds->labels, &ds->cap_labels, ds->n_labels + n, sizeof(*ds->labels))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        const int cls = (int)r->v[0];
        ds->labels[ds->n_labels++] = (struct qb_label){.cls = cls, .cx = r->v[1], .cy = r->v[2], .w = r->v[3],
                                                       .h = r->v[4]};
        if (cls > ds->max_class)
            ds->max_class = cls;
    }
    *n_out = (int)n;
out:
    free(rows);
    free(lines);
    free(buf);
    free(lp);
    return st;
}

/* ---- building the dataset ---- */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static enum qb_status add_item(struct qb_dataset *ds, const char *path, long frame, size_t lab_off, int n_lab,
                               struct qb_error *err)
{
    if (!grow((void **)&ds->items, &ds->cap_items, ds->n_items + 1, sizeof(*ds->items)))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    ds->items[ds->n_items++] = (struct item){.path = path, .frame = frame, .lab_off = lab_off, .n_lab = n_lab};
    return QB_OK;
}

/* sorted, de-duplicated entries -> items with labels */
static enum qb_status build(struct qb_dataset *ds, struct listing *l, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    size_t k = 0;

    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
    for (size_t i = 0; i < l->n; i++) {
        if (k && strcmp(l->v[k - 1].path, l->v[i].path) == 0) {
            l->v[k - 1].listed &= l->v[i].listed;
            ds->stats.duplicate_items++;
        } else {
            l->v[k++] = l->v[i];
        }
    }
    if (ds->stats.duplicate_items)
        qb_log(QB_LOG_INFO, "dataset: %zu image paths listed more than once, kept once", ds->stats.duplicate_items);
    for (size_t i = 0; i < k; i++) {
        const char *img = l->v[i].path;
        struct stat sb;
        enum lab_state ls;
        size_t off = ds->n_labels;
        int n;

        if (l->v[i].listed) {
            const char *why = stat(img, &sb) != 0 ? strerror(errno) : !S_ISREG(sb.st_mode) ? "not a file" : NULL;
            if (why) {
                qb_log(QB_LOG_WARN, "%s: listed, but %s; skipped", img, why);
                ds->stats.corrupt++;
                continue;
            }
        }
        if ((st = read_labels(ds, img, &ls, &n, err)) != QB_OK)
            return st;
        if (ls == LAB_CORRUPT) {
            ds->stats.corrupt++;
            continue;
        }
        ds->stats.labels_found += ls == LAB_OK;
        ds->stats.labels_missing += ls == LAB_MISSING;
        ds->stats.labels_empty += ls == LAB_OK && n == 0;
        ds->stats.instances += (size_t)n;
        ds->stats.images++;
        if ((st = add_item(ds, img, -1, off, n, err)) != QB_OK)
            return st;
    }
    return st;
}

enum qb_status qb_dataset_new(struct qb_dataset **out, struct qb_error *err)
{
    struct qb_dataset *ds = calloc(1, sizeof(*ds));
    *out = NULL;
    if (!ds || !(ds->arena = qb_arena_new())) {
        free(ds);
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    }
    ds->max_class = -1;
    *out = ds;
    return QB_OK;
}

enum qb_status qb_dataset_open(const char *spec, const char *split, struct qb_dataset **out, struct qb_error *err)
{
    enum qb_status st;
    struct qb_dataset *ds = NULL;
    struct listing l = {0};
    struct stat sb;
    char *abs;

    *out = NULL;
    if (!spec || !*spec)
        return qb_errorf(err, QB_ERR_USAGE, "dataset: no path given");
    if (!split || !*split)
        split = "val";
    if ((st = qb_dataset_new(&ds, err)) != QB_OK)
        return st;
    if (!(abs = real(ds->arena, spec)) || stat(abs, &sb) != 0) {
        st = qb_errorf(err, errno == ENOMEM ? QB_ERR_NOMEM : QB_ERR_IO, "%s: %s", spec, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(sb.st_mode) && is_yaml(abs)) {
        ds->from_yaml = true;
        st = open_yaml(ds, &l, abs, split, err);
    } else {
        st = list_source(ds->arena, &l, abs, err);
    }
    if (st != QB_OK || (st = build(ds, &l, err)) != QB_OK)
        goto out;
    if (ds->n_items == 0) {
        st = qb_errorf(err, QB_ERR_IO, "no images in %s%s%s (image extensions: bmp dng jpeg jpg mpo png tif tiff "
                                       "webp pfm heic)%s",
                       l.looked, ds->from_yaml ? ", split " : "", ds->from_yaml ? split : "",
                       ds->stats.corrupt ? "; every image found was skipped as corrupt (see the warnings)" : "");
        goto out;
    }
    *out = ds;
    ds = NULL;
out:
    free(l.v);
    qb_dataset_free(ds);
    return st;
}

enum qb_status qb_dataset_add_videos(struct qb_dataset *ds, const char *path, long every, long max,
                                     struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct listing l = {0};
    struct walk_dir up[WALK_DEPTH_MAX];
    struct stat sb;
    struct qb_video *v = NULL;
    const char *abs;
    size_t before = ds->n_items;

    if (every < 1 || max < 0)
        return qb_errorf(err, QB_ERR_USAGE, "%s: video sampling needs every >= 1 and max >= 0 (0: no limit)", path);
    if (!(abs = real(ds->arena, path)) || stat(abs, &sb) != 0)
        return qb_errorf(err, errno == ENOMEM ? QB_ERR_NOMEM : QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        st = walk(ds->arena, &l, abs, qb_dataset_video_exts, up, 0, err);
    else
        st = add_entry(&l, abs, false, err);
    if (st != QB_OK)
        goto out;
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
    for (size_t i = 0; i < l.n; i++) {
        if ((st = qb_video_open(l.v[i].path, &v, err)) != QB_OK)
            goto out;
        const long count = qb_video_frame_count(v);
        qb_video_close(v);
        v = NULL;
        for (long k = 0; k * every < count && (max == 0 || k < max); k++) {
            if ((st = add_item(ds, l.v[i].path, k * every, ds->n_labels, 0, err)) != QB_OK)
                goto out;
            ds->stats.frames++;
        }
    }
    if (ds->n_items == before)
        st = qb_errorf(err, QB_ERR_IO, "%s: no video frames (video extensions: asf avi gif m4v mkv mov mp4 mpeg mpg "
                                       "ts wmv webm)", path);
out:
    free(l.v);
    return st;
}

void qb_dataset_free(struct qb_dataset *ds)
{
    if (!ds)
        return;
    qb_arena_free(ds->arena);
    free(ds->items);
    free(ds->labels);
    free(ds);
}

/* ---- accessors ---- */

size_t qb_dataset_count(const struct qb_dataset *ds)
{
    return ds->n_items;
}

const char *qb_dataset_path(const struct qb_dataset *ds, size_t i)
{
    return ds->items[i].path;
}

long qb_dataset_frame(const struct qb_dataset *ds, size_t i)
{
    return ds->items[i].frame;
}

const char *const *qb_dataset_names(const struct qb_dataset *ds)
{
    return ds->names;
}

int qb_dataset_nc(const struct qb_dataset *ds)
{
    return ds->nc;
}

int qb_dataset_max_class(const struct qb_dataset *ds)
{
    return ds->max_class;
}

const struct qb_dataset_stats *qb_dataset_stats(const struct qb_dataset *ds)
{
    return &ds->stats;
}

int qb_dataset_has_labels(const struct qb_dataset *ds)
{
    return ds->from_yaml || ds->stats.labels_found > 0;
}

const struct qb_label *qb_dataset_labels_norm(const struct qb_dataset *ds, size_t i, int *n)
{
    *n = ds->items[i].n_lab;
    return ds->labels + ds->items[i].lab_off;
}

int qb_dataset_label_count(const struct qb_dataset *ds, size_t i)
{
    return ds->items[i].n_lab;
}

static float clipf(float v, float hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

void qb_labels_to_px(const struct qb_label *l, int n, const struct qb_letterbox *lb, struct qb_gt *gt)
{
    /* the size labels are denormalised by, over the gain boxes are divided by */
    float sx = (float)lb->src_w, sy = (float)lb->src_h;
    if (lb->mode == QB_LETTERBOX_VAL) {
        sx = (float)lb->new_w / lb->scale;
        sy = (float)lb->new_h / lb->scale;
    }
    for (int i = 0; i < n; i++) {
        const float hw = l[i].w / 2, hh = l[i].h / 2;
        gt[i].cls = l[i].cls;
        gt[i].box.x1 = clipf((l[i].cx - hw) * sx, (float)lb->src_w);
        gt[i].box.y1 = clipf((l[i].cy - hh) * sy, (float)lb->src_h);
        gt[i].box.x2 = clipf((l[i].cx + hw) * sx, (float)lb->src_w);
        gt[i].box.y2 = clipf((l[i].cy + hh) * sy, (float)lb->src_h);
    }
}

int qb_dataset_labels(const struct qb_dataset *ds, size_t i, const struct qb_letterbox *lb, struct qb_gt *gt)
{
    int n;
    const struct qb_label *l = qb_dataset_labels_norm(ds, i, &n);
    qb_labels_to_px(l, n, lb, gt);
    return n;
}

enum qb_status qb_dataset_load(const struct qb_dataset *ds, size_t i, struct qb_video **video, int dst_w, int dst_h,
                               enum qb_letterbox_mode mode, unsigned char *rgb, struct qb_letterbox *lb,
                               struct qb_error *err)
{
    const struct item *it = &ds->items[i];
    enum qb_status st;

    if (it->frame < 0)
        return qb_image_load_resized(it->path, dst_w, dst_h, mode, rgb, lb, err);
    if (*video && strcmp(qb_video_path(*video), it->path) != 0) {
        qb_video_close(*video);
        *video = NULL;
    }
    if (!*video && (st = qb_video_open(it->path, video, err)) != QB_OK)
        return st;
    return qb_video_read_resized(*video, it->frame, dst_w, dst_h, mode, rgb, lb, err);
}
