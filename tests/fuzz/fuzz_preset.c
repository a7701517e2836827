/* libFuzzer target: arbitrary bytes through the session-preset loader
 * (qb_preset_from_text, what qb_preset_load reads). A refusal must name the file;
 * whatever loads must save, and the saved text must load and save again to the same
 * bytes (the round trip presets promise). Under ASan/UBSan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessions/preset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_preset: %s: %s\n", what, msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qb_preset p, q;
    struct qb_error err = {0};
    char *text = malloc(size + 1), *t1 = NULL, *t2 = NULL;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (qb_preset_from_text(text, size, "fuzz.json", &p, &err) != QB_OK) {
        if (strncmp(err.msg, "fuzz.json", 9) != 0)
            fail("a refusal that does not name the file", err.msg);
    } else {
        if (qb_preset_to_text(&p, &t1, &err) != QB_OK)
            fail("loaded but cannot be saved", err.msg);
        if (qb_preset_from_text(t1, strlen(t1), "saved.json", &q, &err) != QB_OK)
            fail("saved text does not load", err.msg);
        if (qb_preset_to_text(&q, &t2, &err) != QB_OK)
            fail("reloaded but cannot be saved", err.msg);
        if (strcmp(t1, t2) != 0)
            fail("save -> load -> save changed the text", t1);
        qb_preset_free(&q);
    }
    qb_preset_free(&p);
    free(t1);
    free(t2);
    free(text);
    return 0;
}
