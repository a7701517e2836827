#include "status.h"

#include <stdio.h>

const char *qb_status_str(enum qb_status s)
{
    switch (s) {
    case QB_OK: return "ok";
    case QB_ERR_NOMEM: return "out of memory";
    case QB_ERR_IO: return "i/o error";
    case QB_ERR_PARSE: return "malformed file";
    case QB_ERR_UNSUPPORTED: return "unsupported";
    case QB_ERR_INVALID: return "invalid model";
    case QB_ERR_SHAPE: return "shape mismatch";
    case QB_ERR_USAGE: return "bad usage";
    case QB_ERR_CANCELLED: return "cancelled";
    case QB_ERR_INTERNAL: return "internal error";
    case QB_STATUS_COUNT: break;
    }
    return "unknown status";
}

enum qb_status qb_errorf(struct qb_error *err, enum qb_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->status = st;
    }
    return st;
}

static qb_log_fn log_fn;
static void *log_user;
static enum qb_log_level log_min = QB_LOG_INFO;

void qb_log_set(qb_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void qb_log_set_level(enum qb_log_level min_level)
{
    log_min = min_level;
}

void qb_log(enum qb_log_level level, const char *fmt, ...)
{
    static const char *const prefix[QB_LOG_LEVEL_COUNT] = {
        [QB_LOG_DEBUG] = "debug: ",
        [QB_LOG_INFO] = "",
        [QB_LOG_WARN] = "warning: ",
        [QB_LOG_ERROR] = "error: ",
    };
    char buf[2048];
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (log_fn)
        log_fn(level, buf, log_user);
    else
        fprintf(stderr, "qbench: %s%s\n", prefix[level], buf);
}
