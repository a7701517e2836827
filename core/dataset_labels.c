/* Datasets: YOLO label files read and checked as Ultralytics' verify_image_label
 * does (core/dataset.h lists the rules). */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"
#include "fileio.h"

/* one label row: class, then cx cy w h, as float32 as numpy holds them */
struct row {
    float v[5];
};

struct line {
    char *s;
    int no;
};

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
            if (!qb_ds_grow((void **)&v, &cap, n + 1, sizeof(*v))) {
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
enum qb_status qb_ds_read_labels(struct qb_dataset *ds, const char *img, enum qb_ds_lab_state *state, int *n_out,
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

    *state = QB_DS_LAB_OK;
    *n_out = 0;
    if (!lp)
        return qb_errorf(err, QB_ERR_NOMEM, "dataset: out of memory");
    if (stat(lp, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *state = QB_DS_LAB_MISSING;
        goto out;
    }
    if ((st = qb_file_read(lp, SIZE_MAX, &buf, &len, &ferr)) != QB_OK) {
        if (st == QB_ERR_NOMEM) {
            *err = ferr;
            goto out;
        }
        st = QB_OK;
        qb_log(QB_LOG_WARN, "%s; skipping image %s", ferr.msg, img);
        *state = QB_DS_LAB_CORRUPT;
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        qb_log(QB_LOG_WARN, "%s: binary data, not a label file; skipping image %s", lp, img);
        *state = QB_DS_LAB_CORRUPT;
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
            *state = QB_DS_LAB_CORRUPT;
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
    if (!qb_ds_grow((void **)&ds->labels, &ds->cap_labels, ds->n_labels + n, sizeof(*ds->labels))) {
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
