/* Checks and small helpers shared by the test executables (header only: every
 * tests/test_*.c is its own executable, so nothing here is linked twice).
 *
 *     CHECK(g != NULL);                              // prints the condition on failure
 *     CHECKF(st == QB_OK, "%s: %s", what, err.msg);  // prints the message on failure
 *     ...
 *     return test_summary("test_foo");               // "test_foo: N checks, N passed, 0 failed"
 *
 * The message arguments of CHECKF are evaluated only when the check fails.
 */
#ifndef QB_TESTUTIL_H
#define QB_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_pass, n_fail;

static inline void __attribute__((format(printf, 3, 4))) check_failed(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    n_fail++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

#define CHECKF(cond, ...)                                 \
    do {                                                  \
        if (cond)                                         \
            n_pass++;                                     \
        else                                              \
            check_failed(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define CHECK(cond) CHECKF(cond, "%s", #cond)

/* Prints the summary line; the exit status of main. */
static inline int test_summary(const char *name)
{
    printf("%s: %d checks, %d passed, %d failed\n", name, n_pass + n_fail, n_pass, n_fail);
    return n_fail ? 1 : 0;
}

/* xorshift64 with a fixed seed: the same inputs on every run */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t rng64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static inline uint32_t rng32(void)
{
    return (uint32_t)(rng64() >> 11);
}

/* uniform in [lo, hi) */
static inline float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng32() & 0xFFFFFF) / (float)0x1000000;
}

/* check(ok, what): CHECKF with a fixed message */
static inline void check(bool ok, const char *what)
{
    CHECKF(ok, "%s", what);
}

/* A second, independent generator (64-bit LCG) for tests whose random shapes
 * and values were drawn from it: a test may set lcg_state before drawing. */
static unsigned long long lcg_state = 0x9E3779B97F4A7C15ull;

static inline unsigned rnd(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(lcg_state >> 33);
}

/* uniform integer in [lo, hi] */
static inline int rint_in(int lo, int hi)
{
    return lo + (int)(rnd() % (unsigned)(hi - lo + 1));
}

/* in [-1, 1] on a grid of 1e-4 */
static inline float rfloat(void)
{
    return (float)(rnd() % 20001) / 10000.0f - 1.0f;
}

static inline bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* files: a test that cannot set up its files stops with status 2 */

static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* Creates /tmp/qb_<name>.XXXXXX into dir. */
static inline void make_tmpdir(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "/tmp/qb_%s.XXXXXX", name);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", name, strerror(errno));
        exit(2);
    }
}

/* rm -r dir (symbolic links are removed, never followed) */
static inline void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    char path[1024];
    struct stat sb;

    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

#endif
