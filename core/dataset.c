/* Datasets: image lists from folders, list files, single images and videos, made
 * into sorted items with their labels; the public API (core/dataset.h). The
 * data.yaml is read in dataset_yaml.c, label files in dataset_labels.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <dirent.h>

#include "dataset_internal.h"
#include "fileio.h"

#define WALK_DEPTH_MAX 64

const char *const qb_dataset_image_exts[] = {"bmp", "dng", "jpeg", "jpg", "mpo", "png",
                                             "tif", "tiff", "webp", "pfm", "heic", NULL};
const char *const qb_dataset_video_exts[] = {"asf", "avi",  "gif", "m4v", "mkv", "mov", "mp4",
                                             "mpeg", "mpg", "ts", "wmv", "webm", NULL};

struct qb_ds_item {
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

struct qb_ds_listing {
    struct entry *v;
    size_t n, cap;
    char looked[QB_DS_LOOKED_MAX]; /* where we looked, for the empty-dataset error */
};

/* ---- small helpers ---- */

bool qb_ds_grow(void **p, size_t *cap, size_t need, size_t elem)
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
char *qb_ds_join(struct qb_arena *a, const char *dir, const char *rel)
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
char *qb_ds_dir_of(struct qb_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return qb_arena_strdup(a, ".");
    return qb_arena_strndup(a, path, slash == path ? 1 : (size_t)(slash - path));
}

/* realpath() into the arena; NULL with errno set when the path does not exist */
char *qb_ds_real(struct qb_arena *a, const char *path)
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

void qb_ds_note_looked(struct qb_ds_listing *l, const char *path)
{
    size_t n = strlen(l->looked);
    if (n + 8 >= sizeof(l->looked))
        return;
    snprintf(l->looked + n, sizeof(l->looked) - n, "%s%s", n ? ", " : "", path);
}

static enum qb_status add_entry(struct qb_ds_listing *l, const char *path, bool listed, struct qb_error *err)
{
    if (!path || !qb_ds_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
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
static enum qb_status walk(struct qb_arena *a, struct qb_ds_listing *l, const char *dir, const char *const *exts,
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
        char *p = qb_ds_join(a, dir, e->d_name);
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

/* a list file: one path per line, relative ones against the list's folder */
static enum qb_status read_list(struct qb_arena *a, struct qb_ds_listing *l, const char *list, struct qb_error *err)
{
    enum qb_status st;
    char *buf = NULL, *dir = qb_ds_dir_of(a, list), *save = NULL;
    size_t len;

    if (!dir)
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    if ((st = qb_file_read(list, SIZE_MAX, &buf, &len, err)) != QB_OK)
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
        if ((st = add_entry(l, normalize(qb_ds_join(a, dir, line)), true, err)) != QB_OK)
            goto out;
    }
out:
    free(buf);
    return st;
}

/* one source: a folder, an image, or a list file (path absolute, existing) */
enum qb_status qb_ds_list_source(struct qb_arena *a, struct qb_ds_listing *l, const char *path,
                                 struct qb_error *err)
{
    struct stat sb;
    struct walk_dir up[WALK_DEPTH_MAX];

    qb_ds_note_looked(l, path);
    if (stat(path, &sb) != 0)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return walk(a, l, path, qb_dataset_image_exts, up, 0, err);
    if (has_ext(path, qb_dataset_image_exts))
        return add_entry(l, qb_arena_strdup(a, path), false, err);
    return read_list(a, l, path, err);
}

/* ---- building the dataset ---- */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static enum qb_status add_item(struct qb_dataset *ds, const char *path, long frame, size_t lab_off, int n_lab,
                               struct qb_error *err)
{
    if (!qb_ds_grow((void **)&ds->items, &ds->cap_items, ds->n_items + 1, sizeof(*ds->items)))
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    ds->items[ds->n_items++] = (struct qb_ds_item){.path = path, .frame = frame, .lab_off = lab_off, .n_lab = n_lab};
    return QB_OK;
}

/* sorted, de-duplicated entries -> items with labels */
static enum qb_status build(struct qb_dataset *ds, struct qb_ds_listing *l, struct qb_error *err)
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
        enum qb_ds_lab_state ls;
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
        if ((st = qb_ds_read_labels(ds, img, &ls, &n, err)) != QB_OK)
            return st;
        if (ls == QB_DS_LAB_CORRUPT) {
            ds->stats.corrupt++;
            continue;
        }
        ds->stats.labels_found += ls == QB_DS_LAB_OK;
        ds->stats.labels_missing += ls == QB_DS_LAB_MISSING;
        ds->stats.labels_empty += ls == QB_DS_LAB_OK && n == 0;
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
    struct qb_ds_listing l = {0};
    struct stat sb;
    char *abs;

    *out = NULL;
    if (!spec || !*spec)
        return qb_errorf(err, QB_ERR_USAGE, "dataset: no path given");
    if (!split || !*split)
        split = "val";
    if ((st = qb_dataset_new(&ds, err)) != QB_OK)
        return st;
    if (!(abs = qb_ds_real(ds->arena, spec)) || stat(abs, &sb) != 0) {
        st = qb_errorf(err, errno == ENOMEM ? QB_ERR_NOMEM : QB_ERR_IO, "%s: %s", spec, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(sb.st_mode) && is_yaml(abs)) {
        ds->from_yaml = true;
        st = qb_ds_open_yaml(ds, &l, abs, split, err);
    } else {
        st = qb_ds_list_source(ds->arena, &l, abs, err);
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
    struct qb_ds_listing l = {0};
    struct walk_dir up[WALK_DEPTH_MAX];
    struct stat sb;
    struct qb_video *v = NULL;
    const char *abs;
    size_t before = ds->n_items;

    if (every < 1 || max < 0)
        return qb_errorf(err, QB_ERR_USAGE, "%s: video sampling needs every >= 1 and max >= 0 (0: no limit)", path);
    if (!(abs = qb_ds_real(ds->arena, path)) || stat(abs, &sb) != 0)
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
    const struct qb_ds_item *it = &ds->items[i];
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
