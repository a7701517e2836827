/* qbench demo-data: synthetic stereo Formula Student cone scenes (core/synth) for
 * the bundled demo, in the Ultralytics layout or as raw tensors. The raw format is
 * for the GPU-machine build, which has no image codecs: it renders its own training
 * data with the same renderer. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/image.h"
#include "core/synth/synth.h"
#include "core/threadpool.h"


#define USAGE                                                                                                    \
    "usage: qbench demo-data --out DIR [--count N] [--seed S] [--size WxH] [--format images|raw]\n"               \
    "                        [--image-format jpg|png] [--splits train,val,calib] [--threads T]\n"               \
    "  (no --preset: demo-data reads no model and no session; it writes the images a session starts from)\n"

#define ALL_SPLITS ((1u << QB_SYNTH_SPLIT_COUNT) - 1)

struct label {
    int8_t cls;
    float cx, cy, w, h;
};

struct job {
    const struct qb_synth *synth;
    const char *out;
    const char *ext;              /* images: "jpg" or "png" */
    int raw, w, h;
    unsigned splits;              /* bit s: split s is rendered and written */
    int64_t count;                /* scenes of the whole run, rendered or not */
    int64_t *index;               /* scene -> index within its split */
    int64_t *todo;                /* the scenes to render: those of the listed splits */
    int64_t n_todo;
    int fd[QB_SYNTH_SPLIT_COUNT]; /* raw: one file per split */
    struct label **labels;        /* raw: per scene, left boxes then right boxes */
    int *n_labels;                /* raw: per scene, [2] counts */
    atomic_int failed;
    atomic_llong done;
    pthread_mutex_t mu;
    struct qb_error err;
    double t0;
};

static enum qb_status make_dir(const char *path, struct qb_error *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return qb_errorf(err, QB_ERR_USAGE, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            const char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return qb_errorf(err, QB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    return QB_OK;
}

static void fail(struct job *j, const struct qb_error *e)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_load(&j->failed))
        j->err = *e;
    atomic_store(&j->failed, 1);
    pthread_mutex_unlock(&j->mu);
}

static enum qb_status write_labels(const char *path, const struct qb_synth_view *v, struct qb_error *err)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL;
    for (int b = 0; ok && b < v->n_boxes; b++) {
        const struct qb_synth_box *x = &v->boxes[b];
        ok = fprintf(f, "%d %.6f %.6f %.6f %.6f\n", x->cls, x->cx, x->cy, x->w, x->h) > 0;
    }
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? QB_OK : qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
}

static enum qb_status write_scene_files(struct job *j, int64_t scene, struct qb_synth_view *v, int quality,
                                        struct qb_error *err)
{
    const enum qb_synth_split sp = qb_synth_split_of(scene);
    const size_t bytes = (size_t)j->w * (size_t)j->h * 3;
    enum qb_status st = QB_OK;
    char path[4200];
    for (int k = 0; k < 2 && st == QB_OK; k++) {
        if (j->raw) {
            const off_t off = (off_t)(2 * j->index[scene] + k) * (off_t)bytes;
            if (pwrite(j->fd[sp], v[k].rgb, bytes, off) != (ssize_t)bytes)
                return qb_errorf(err, QB_ERR_IO, "%s/%s.rgb: write failed: %s", j->out, qb_synth_split_name(sp),
                                 strerror(errno));
            continue;
        }
        snprintf(path, sizeof(path), "%s/images/%s/s%06" PRId64 "_%c.%s", j->out, qb_synth_split_name(sp), scene,
                 k ? 'r' : 'l', j->ext);
        if ((st = qb_image_write_rgb(path, v[k].rgb, j->w, j->h, quality, err)) != QB_OK)
            break;
        if (sp == QB_SYNTH_CALIB)
            continue;
        snprintf(path, sizeof(path), "%s/labels/%s/s%06" PRId64 "_%c.txt", j->out, qb_synth_split_name(sp), scene,
                 k ? 'r' : 'l');
        st = write_labels(path, &v[k], err);
    }
    if (j->raw && st == QB_OK && sp != QB_SYNTH_CALIB) {
        const int n = v[0].n_boxes + v[1].n_boxes;
        struct label *l = malloc(sizeof(*l) * (size_t)(n ? n : 1));
        if (!l)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        for (int k = 0, m = 0; k < 2; k++)
            for (int b = 0; b < v[k].n_boxes; b++, m++) {
                const struct qb_synth_box *x = &v[k].boxes[b];
                l[m] = (struct label){(int8_t)x->cls, x->cx, x->cy, x->w, x->h};
            }
        j->labels[scene] = l;
        j->n_labels[2 * scene] = v[0].n_boxes;
        j->n_labels[2 * scene + 1] = v[1].n_boxes;
    }
    return st;
}

static void render_one(void *ctx, int item)
{
    struct job *j = ctx;
    const int64_t scene = j->todo[item];
    struct qb_synth_view *v = NULL;
    struct qb_synth_info info;
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    const size_t bytes = (size_t)j->w * (size_t)j->h * 3;

    if (atomic_load(&j->failed))
        return;
    if (!(v = calloc(2, sizeof(*v))) || !(v[0].rgb = malloc(bytes)) || !(v[1].rgb = malloc(bytes))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = qb_synth_render(j->synth, scene, v, &info, &err)) != QB_OK)
        goto out;
    if ((st = write_scene_files(j, scene, v, info.jpeg_quality, &err)) != QB_OK)
        goto out;
    {
        const long long done = atomic_fetch_add(&j->done, 1) + 1;
        const long long step = j->n_todo >= 100 ? j->n_todo / 10 : j->n_todo;
        if (done % step == 0)
            fprintf(stderr, "demo-data: %lld/%" PRId64 " scenes, %.1f s\n", done, j->n_todo, qb_cli_now() - j->t0);
    }
out:
    if (st != QB_OK)
        fail(j, &err);
    if (v) {
        free(v[0].rgb);
        free(v[1].rgb);
    }
    free(v);
}

static enum qb_status write_text(const char *path, const char *text, struct qb_error *err)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? QB_OK : qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
}

/* A split that was not written keeps its key with no value: Ultralytics'
 * check_det_dataset refuses a data.yaml without train: or val:, even for `yolo val`,
 * but resolves (and looks for) only the splits that have a value. */
static enum qb_status write_yaml(const struct job *j, uint64_t seed, const char *cmdline, struct qb_error *err)
{
    char path[4200], text[8192];
    int n = snprintf(text, sizeof(text),
                     "# Synthetic Formula Student cone scenes (stereo pairs: <scene>_l / <scene>_r)\n"
                     "# seed %" PRIu64 ", %" PRId64 " scenes, %dx%d; made by: %s\n"
                     "path: .\n",
                     seed, j->count, j->w, j->h, cmdline);
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT && n > 0 && (size_t)n < sizeof(text); s++) {
        const char *name = qb_synth_split_name(s);
        if (j->splits & (1u << s))
            n += snprintf(text + n, sizeof(text) - (size_t)n, "%s: images/%s%s\n", name, name,
                          s == QB_SYNTH_CALIB ? "   # unlabelled" : "");
        else
            n += snprintf(text + n, sizeof(text) - (size_t)n, "%s:   # not rendered (--splits)\n", name);
    }
    if (n > 0 && (size_t)n < sizeof(text))
        n += snprintf(text + n, sizeof(text) - (size_t)n, "names:\n");
    for (int c = 0; c < QB_SYNTH_CLASS_COUNT && n > 0 && (size_t)n < sizeof(text); c++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "  %d: %s\n", c, qb_synth_class_name(c));
    snprintf(path, sizeof(path), "%s/data.yaml", j->out);
    return write_text(path, text, err);
}

static enum qb_status write_raw_meta(const struct job *j, const int64_t *n_split, uint64_t seed, const char *cmdline,
                                     struct qb_error *err)
{
    enum qb_status st = QB_OK;
    char path[4200];
    cJSON *root = cJSON_CreateObject(), *count = cJSON_AddObjectToObject(root, "count");
    cJSON *splits = cJSON_AddArrayToObject(root, "splits"), *names = cJSON_AddArrayToObject(root, "names");
    char *text = NULL;
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT; s++) {
        if (!(j->splits & (1u << s)))
            continue;
        cJSON_AddNumberToObject(count, qb_synth_split_name(s), (double)(2 * n_split[s]));
        cJSON_AddItemToArray(splits, cJSON_CreateString(qb_synth_split_name(s)));
    }
    for (int c = 0; c < QB_SYNTH_CLASS_COUNT; c++)
        cJSON_AddItemToArray(names, cJSON_CreateString(qb_synth_class_name(c)));
    cJSON_AddNumberToObject(root, "width", j->w);
    cJSON_AddNumberToObject(root, "height", j->h);
    cJSON_AddNumberToObject(root, "scenes", (double)j->count);
    cJSON_AddNumberToObject(root, "seed", (double)seed);
    cJSON_AddStringToObject(root, "layout",
                            "<split>.rgb: uint8 N x H x W x 3 RGB, the split's n-th scene left at 2n and right at 2n+1; "
                            "<split>.labels: 'image_index class cx cy w h' (normalised); calib is unlabelled");
    cJSON_AddStringToObject(root, "command", cmdline);
    if (!(text = cJSON_Print(root))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/raw.json", j->out);
    if ((st = write_text(path, text, err)) != QB_OK)
        goto out;
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT && st == QB_OK; s++) {
        if (s == QB_SYNTH_CALIB || !(j->splits & (1u << s)))
            continue;
        snprintf(path, sizeof(path), "%s/%s.labels", j->out, qb_synth_split_name(s));
        FILE *f = fopen(path, "w");
        int ok = f != NULL;
        for (int64_t i = 0; ok && i < j->count; i++) {
            if ((int)qb_synth_split_of(i) != s)
                continue;
            const struct label *l = j->labels[i];
            for (int k = 0, m = 0; k < 2; k++)
                for (int b = 0; b < j->n_labels[2 * i + k]; b++, m++)
                    ok = fprintf(f, "%" PRId64 " %d %.6f %.6f %.6f %.6f\n", 2 * j->index[i] + k, l[m].cls, l[m].cx,
                                 l[m].cy, l[m].w, l[m].h) > 0;
        }
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok)
            st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
out:
    free(text);
    cJSON_Delete(root);
    return st;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* "val,calib" -> the bits of those splits; -1 for an unknown or empty name */
static int parse_splits(const char *s, unsigned *mask)
{
    *mask = 0;
    for (;;) {
        const size_t n = strcspn(s, ",");
        int hit = -1;
        for (int sp = 0; sp < QB_SYNTH_SPLIT_COUNT; sp++)
            if (strlen(qb_synth_split_name(sp)) == n && strncmp(s, qb_synth_split_name(sp), n) == 0)
                hit = sp;
        if (hit < 0)
            return -1;
        *mask |= 1u << hit;
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

/* "train 1600, val 200" for the splits written */
static void split_summary(const struct job *j, const int64_t *n_split, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT && n < len; s++)
        if (j->splits & (1u << s))
            n += (size_t)snprintf(buf + n, len - n, "%s%s %" PRId64, n ? ", " : "", qb_synth_split_name(s),
                                  2 * n_split[s]);
}

/* folders (images) or the tensor files (raw) of the splits written */
static enum qb_status make_outputs(struct job *j, const int64_t *n_split, struct qb_error *err)
{
    enum qb_status st = make_dir(j->out, err);
    char path[4200];
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT && st == QB_OK; s++) {
        if (!(j->splits & (1u << s)))
            continue;
        if (j->raw) {
            snprintf(path, sizeof(path), "%s/%s.rgb", j->out, qb_synth_split_name(s));
            j->fd[s] = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
            if (j->fd[s] < 0 || ftruncate(j->fd[s], (off_t)(2 * n_split[s]) * j->w * j->h * 3) != 0)
                st = qb_errorf(err, QB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            continue;
        }
        snprintf(path, sizeof(path), "%s/images/%s", j->out, qb_synth_split_name(s));
        if ((st = make_dir(path, err)) != QB_OK || s == QB_SYNTH_CALIB)
            continue;
        snprintf(path, sizeof(path), "%s/labels/%s", j->out, qb_synth_split_name(s));
        st = make_dir(path, err);
    }
    return st;
}

int qb_cmd_demo_data(int argc, char **argv)
{
    const char *out = NULL, *format = "images", *image_format = NULL, *splits_arg = NULL;
    int64_t count = 1000, seed = 1, threads = 0;
    int w = QB_SYNTH_DEFAULT_W, h = QB_SYNTH_DEFAULT_H;
    unsigned splits = ALL_SPLITS;
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    struct qb_synth *synth = NULL;
    struct qb_pool *pool = NULL;
    struct job j = {0};
    int64_t n_split[QB_SYNTH_SPLIT_COUNT] = {0};
    char cmdline[1024] = "qbench", summary[256];
    int rc, n;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--preset") == 0) {
            fprintf(stderr, "qbench demo-data: --preset does not apply: demo-data reads no model and no session\n");
            return QB_EXIT_USAGE;
        }
        if (!v || a[0] != '-') {
            fprintf(stderr, "qbench demo-data: unexpected or incomplete argument '%s'\n" USAGE, a);
            return QB_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--count") == 0)
            bad = parse_i64(v, 1, INT32_MAX, &count);
        else if (strcmp(a, "--seed") == 0)
            bad = parse_i64(v, 0, INT64_MAX, &seed);
        else if (strcmp(a, "--threads") == 0)
            bad = parse_i64(v, 1, 1024, &threads);
        else if (strcmp(a, "--format") == 0) {
            format = v;
            bad = strcmp(v, "images") != 0 && strcmp(v, "raw") != 0;
        } else if (strcmp(a, "--image-format") == 0) {
            image_format = v;
            bad = strcmp(v, "jpg") != 0 && strcmp(v, "png") != 0;
        } else if (strcmp(a, "--splits") == 0) {
            splits_arg = v;
            bad = parse_splits(v, &splits);
        } else if (strcmp(a, "--size") == 0) {
            char x, tail;
            bad = sscanf(v, "%d%c%d%c", &w, &x, &h, &tail) != 3 || (x != 'x' && x != 'X') || w < 64 || h < 64 ||
                  w > 4096 || h > 4096;
        } else {
            fprintf(stderr, "qbench demo-data: unknown option '%s'\n" USAGE, a);
            return QB_EXIT_USAGE;
        }
        if (bad) {
            fprintf(stderr, "qbench demo-data: bad value for %s: '%s'%s\n", a, v,
                    strcmp(a, "--splits") == 0 ? " (a comma list of train, val, calib)" : "");
            return QB_EXIT_USAGE;
        }
    }
    if (!out) {
        fprintf(stderr, USAGE);
        return QB_EXIT_USAGE;
    }
    j.raw = strcmp(format, "raw") == 0;
    if (j.raw && image_format) {
        fprintf(stderr, "qbench demo-data: --image-format is for --format images (raw writes tensors)\n");
        return QB_EXIT_USAGE;
    }
    if (!j.raw && !qb_image_available()) {
        fprintf(stderr, "qbench demo-data: this build cannot write image files (no OpenCV); use --format raw\n");
        return QB_EXIT_USAGE;
    }
    /* the defaults are left out, so a plain run records the same command as before */
    n = snprintf(cmdline, sizeof(cmdline),
                 "qbench demo-data --out %s --count %" PRId64 " --seed %" PRId64 " --size %dx%d --format %s", out,
                 count, seed, w, h, format);
    if (n > 0 && (size_t)n < sizeof(cmdline) && image_format && strcmp(image_format, "jpg") != 0)
        n += snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, " --image-format %s", image_format);
    if (n > 0 && (size_t)n < sizeof(cmdline) && splits != ALL_SPLITS)
        snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, " --splits %s", splits_arg);

    j.out = out;
    j.ext = image_format ? image_format : "jpg";
    j.w = w;
    j.h = h;
    j.splits = splits;
    j.count = count;
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT; s++)
        j.fd[s] = -1;
    pthread_mutex_init(&j.mu, NULL);
    if (!(j.index = malloc(sizeof(int64_t) * (size_t)count)) || !(j.todo = malloc(sizeof(int64_t) * (size_t)count))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* a scene's place in its split counts every scene, so the splits written are
     * byte for byte those of a run with all three */
    for (int64_t i = 0; i < count; i++) {
        const enum qb_synth_split sp = qb_synth_split_of(i);
        j.index[i] = n_split[sp]++;
        if (splits & (1u << sp))
            j.todo[j.n_todo++] = i;
    }
    if ((st = make_outputs(&j, n_split, &err)) != QB_OK)
        goto out;
    if (j.raw && (!(j.labels = calloc((size_t)count, sizeof(*j.labels))) ||
                  !(j.n_labels = calloc((size_t)count * 2, sizeof(int))))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }

    if ((st = qb_synth_new(&(struct qb_synth_params){.seed = (uint64_t)seed, .width = w, .height = h}, &synth,
                           &err)) != QB_OK)
        goto out;
    if (!(pool = qb_pool_new((int)threads))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "cannot start worker threads");
        goto out;
    }
    j.synth = synth;
    j.t0 = qb_cli_now();
    if (j.n_todo)
        qb_pool_for(pool, (int)j.n_todo, render_one, &j);
    if (atomic_load(&j.failed)) {
        err = j.err;
        st = err.status ? err.status : QB_ERR_IO;
        goto out;
    }
    st = j.raw ? write_raw_meta(&j, n_split, (uint64_t)seed, cmdline, &err)
               : write_yaml(&j, (uint64_t)seed, cmdline, &err);
    if (st == QB_OK) {
        const double t = qb_cli_now() - j.t0;
        split_summary(&j, n_split, summary, sizeof(summary));
        printf("%s: %" PRId64 " scenes", out, j.n_todo);
        if (j.n_todo != count)
            printf(" of %" PRId64, count);
        printf(" (%" PRId64 " stereo images: %s), %dx%d, %s%s%s, seed %" PRId64 ", %.1f s on %d threads", 2 * j.n_todo,
               summary, w, h, format, j.raw ? "" : " ", j.raw ? "" : j.ext, seed, t, qb_pool_size(pool));
        if (j.n_todo)
            printf(" (%.1f ms per image per thread)", t * 1e3 * qb_pool_size(pool) / (double)(2 * j.n_todo));
        printf("\n");
    }
out:
    for (int s = 0; s < QB_SYNTH_SPLIT_COUNT; s++)
        if (j.fd[s] >= 0 && close(j.fd[s]) != 0 && st == QB_OK)
            st = qb_errorf(&err, QB_ERR_IO, "%s: write failed: %s", out, strerror(errno));
    if (j.labels)
        for (int64_t i = 0; i < count; i++)
            free(j.labels[i]);
    free(j.labels);
    free(j.n_labels);
    free(j.todo);
    free(j.index);
    qb_pool_free(pool);
    qb_synth_free(synth);
    pthread_mutex_destroy(&j.mu);
    if (st != QB_OK)
        fprintf(stderr, "qbench demo-data: %s\n", err.msg);
    rc = qb_cli_exit_code(st);
    return rc;
}
