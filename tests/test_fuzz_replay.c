/* Replays every input the fuzzer ever crashed on (tests/fuzz/crashes/) and the
 * hand-made bad models (tests/data/bad/) through load and prepare: each must be
 * refused with a message that starts with its path, never crash (the ASan build
 * runs this too). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx.h"

static int replay_dir(const char *dir, int *pass, int *fail)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d) {
        printf("FAIL: cannot open %s\n", dir);
        (*fail)++;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct qb_graph *g = NULL;
        struct qb_error err = {0};
        enum qb_status st;
        if (de->d_name[0] == '.' || !strstr(de->d_name, ".onnx"))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        st = qb_onnx_load(path, &g, &err);
        if (st == QB_OK)
            st = qb_graph_prepare(g, &err);
        qb_graph_free(g);
        if (st != QB_OK && strncmp(err.msg, path, strlen(path)) == 0) {
            (*pass)++;
        } else {
            (*fail)++;
            printf("FAIL: %s: status %s, message '%s'\n", path, qb_status_str(st), err.msg);
        }
    }
    closedir(d);
    return 0;
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char dir[4096];
    int pass = 0, fail = 0;
    if (!src)
        src = ".";
    qb_log_set_level(QB_LOG_ERROR);
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/crashes", src);
    replay_dir(dir, &pass, &fail);
    snprintf(dir, sizeof(dir), "%s/tests/data/bad", src);
    replay_dir(dir, &pass, &fail);
    printf("%d passed, %d failed\n", pass, fail);
    return fail || pass == 0;
}
