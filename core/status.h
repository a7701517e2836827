/* Status codes, error detail and the library log.
 *
 * Every fallible core function returns an enum qb_status and, on failure, writes a
 * human-readable detail into a caller-provided struct qb_error (which may be NULL).
 * The detail names the file, the node and the op where it knows them:
 *
 *     struct qb_error err = {0};
 *     struct qb_graph *g = NULL;
 *     if (qb_onnx_load(path, &g, &err) != QB_OK)
 *         fprintf(stderr, "qbench: %s\n", err.msg);
 *
 * Library code never prints: it logs through qb_log(), which goes to the callback
 * the application set with qb_log_set() (stderr by default), so the TUI can route
 * messages into its log pane.
 */
#ifndef QB_STATUS_H
#define QB_STATUS_H

#include <stdarg.h>
#include <stddef.h>

/* NOTE: append only, never renumber: codes appear in JSON output and exit paths. */
enum qb_status {
    QB_OK = 0,
    QB_ERR_NOMEM = 1,       /* allocation failed */
    QB_ERR_IO = 2,          /* file missing, unreadable, unwritable */
    QB_ERR_PARSE = 3,       /* malformed or truncated file */
    QB_ERR_UNSUPPORTED = 4, /* op, attribute, dtype or layout qbench does not handle */
    QB_ERR_INVALID = 5,     /* well-formed but inconsistent model (dangling names, bad shapes) */
    QB_ERR_SHAPE = 6,       /* input tensor does not match the model */
    QB_ERR_USAGE = 7,       /* bad arguments */
    QB_ERR_CANCELLED = 8,   /* stopped by the user */
    QB_ERR_INTERNAL = 9,    /* a bug in qbench */
    QB_STATUS_COUNT
};

const char *qb_status_str(enum qb_status s);

struct qb_error {
    enum qb_status status;
    char msg[1024];
};

/* Formats the detail into err (if non-NULL) and returns st, so callers write
 * `return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));`. */
enum qb_status qb_errorf(struct qb_error *err, enum qb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum qb_log_level {
    QB_LOG_DEBUG = 0,
    QB_LOG_INFO = 1,
    QB_LOG_WARN = 2,
    QB_LOG_ERROR = 3,
    QB_LOG_LEVEL_COUNT
};

typedef void (*qb_log_fn)(enum qb_log_level level, const char *msg, void *user);

/* Sets the log sink (NULL restores the default: stderr, INFO and above). */
void qb_log_set(qb_log_fn fn, void *user);
void qb_log_set_level(enum qb_log_level min_level);
void qb_log(enum qb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
