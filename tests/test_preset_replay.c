/* Replays the preset fuzzer's seeds and finds (tests/fuzz/corpus-preset/) through the
 * loader, as fuzz_preset does, in the normal suite and under ASan: ok_* must load and
 * save -> load -> save to the same bytes; bad_* must be refused with a message that
 * starts with the path; anything else (an input the fuzzer once crashed on) must do
 * one or the other. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessions/preset.h"
#include "testutil.h"

static void replay(const char *path, const char *name, int *n_ok, int *n_bad)
{
    struct qb_preset p, q;
    struct qb_error err = {0};
    char *t1 = NULL, *t2 = NULL;
    enum qb_status st = qb_preset_load(path, &p, &err);

    if (st == QB_OK) {
        bool same = qb_preset_to_text(&p, &t1, &err) == QB_OK &&
                    qb_preset_from_text(t1, strlen(t1), path, &q, &err) == QB_OK &&
                    qb_preset_to_text(&q, &t2, &err) == QB_OK && strcmp(t1, t2) == 0;
        CHECKF(same, "%s: loads, but the round trip fails: %s", path, err.msg);
        CHECKF(!starts_with(name, "bad_"), "%s: loads, yet is named bad_", path);
        qb_preset_free(&q);
        (*n_ok)++;
    } else {
        CHECKF(starts_with(err.msg, path), "%s: %s '%s' does not name the file", path, qb_status_str(st), err.msg);
        CHECKF(!starts_with(name, "ok_"), "%s: refused: %s", path, err.msg);
        (*n_bad)++;
    }
    qb_preset_free(&p);
    free(t1);
    free(t2);
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char dir[4096];
    int n_ok = 0, n_bad = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus-preset", src ? src : ".");
    if (!(d = opendir(dir))) {
        printf("FAIL: cannot open %s\n", dir);
        return 1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        char path[8192];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        replay(path, e->d_name, &n_ok, &n_bad);
    }
    closedir(d);
    CHECKF(n_ok > 0 && n_bad > 0, "%d loaded, %d refused: the seeds are missing", n_ok, n_bad);
    printf("%d seeds loaded and round-tripped, %d refused with their path\n", n_ok, n_bad);
    return test_summary("test_preset_replay");
}
