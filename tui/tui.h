/* The interactive workbench (issue 7): one ncurses screen over a struct work.
 *
 * Structure (htop's): tui/app.c owns the state, the main loop and the key table;
 * tui/screen.c the terminal (colours by role, signals, the log pane's sources);
 * one file per panel draws from struct app and never changes the plan:
 * panel_top.c (header, summary), panel_nodes.c (the node table: sort, filter),
 * panel_history.c (builds as mAP against cost, the Pareto front), panel_bottom.c
 * (log, progress and status lines, key bar, prompts, help). Long work runs on one
 * worker thread (work.h); the main loop redraws every 40 ms while it runs.
 */
#ifndef QB_TUI_H
#define QB_TUI_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>

#include "sessions/preset.h"
#include "work.h"

/* Colour roles (a scheme maps them to pairs, or to attributes on monochrome). */
enum tui_role {
    ROLE_NORMAL = 0,
    ROLE_HEADER,                 /* the top line */
    ROLE_TITLE,                  /* panel titles, column headers */
    ROLE_DELTA_GOOD,
    ROLE_DELTA_BAD,
    ROLE_PREC_INT8,
    ROLE_PREC_FP16,
    ROLE_DIM,                    /* nodes that cannot run INT8, hints */
    ROLE_SELECTED,
    ROLE_PARETO,
    ROLE_CURRENT,
    ROLE_ERROR,
    ROLE_BAR,                    /* progress bar fill */
    ROLE_KEY,                    /* key names in the key bar */
    ROLE_COUNT
};

enum tui_col {
    COL_INDEX = 0,
    COL_NAME,
    COL_OP,
    COL_SHAPE,
    COL_PREC,
    COL_SENS,
    COL_GAIN,
    COL_COUNT
};

enum tui_prompt {
    PROMPT_NONE = 0,
    PROMPT_FILTER,
    PROMPT_BUDGET,
    PROMPT_IMAGES,
    PROMPT_SAVE,
    PROMPT_LOAD,
    PROMPT_EXPORT_FORMAT,
    PROMPT_EXPORT_PATH,
    PROMPT_QUIT_SAVE,            /* y / n / Esc */
    PROMPT_COUNT
};

/* One evaluated plan. */
struct build {
    char what[96];
    char hash[65];
    enum qb_prec *prec;          /* owned; NULL for builds loaded from a preset whose plan did not resolve */
    int n_int8, n_fp16;
    double cost;                 /* BOPs relative to all-FP16 */
    int images;
    struct qb_sweep_result r;
    double latency_ms;           /* simulation time per image; NAN when read from the cache */
    bool pareto;
    char time[32], executor[32], device[64]; /* when and where it was evaluated */
    struct qb_plan_spec spec;    /* the plan as rules, as presets store it */
};

#define TUI_LOG_LINES 256

struct app {
    struct work w;
    bool opened;                 /* WORK_OPEN finished */
    char open_err[1024];         /* why it did not, for the message after the screen closes */
    const char *preset_path;     /* --preset, or where `p` last saved */
    char preset_buf[4096];
    struct qb_preset *loaded;    /* the --preset given at start, applied once opened (owned) */
    /* the plan: precision per node, with undo and redo */
    enum qb_prec *prec;
    enum qb_prec **undo, **redo;
    int n_undo, n_redo, cap_undo, cap_redo;
    bool dirty;                  /* unsaved plan changes or builds */
    /* results */
    bool have_base;
    struct qb_sweep_result fp32, fp16;
    int base_images;
    struct build *builds;
    int n_builds, cap_builds;
    int cur_build, prev_build;   /* the latest build and the one before it (-1: none) */
    double *gain;                /* per node: share of the FP16 model's BOPs its INT8 removes */
    double *sens;                /* per node: sensitivity cost (NAN: not measured) */
    const char *sens_metric;     /* "dmAP" or "dfid" */
    struct qb_sens *rank;        /* the last finished node ranking, for the search */
    int rank_images;
    /* the node table */
    int *rows, n_rows;           /* node indices shown, sorted and filtered */
    int sel, top;                /* selected row, first row shown */
    enum tui_col sort;
    bool sort_desc;
    char filter[256], saved_filter[256]; /* saved: restored when the filter prompt is cancelled */
    regex_t re;
    bool re_ok;
    /* the worker */
    struct work_job *job;
    pthread_t thread;
    bool running;
    double job_t0;
    /* the screen */
    int eval_images;             /* images a rebuild evaluates (0: all loaded) */
    char status[512];
    bool status_err;
    bool help;
    enum tui_prompt prompt;
    char pbuf[512], ptitle[640];
    int plen;
    char pending_format[16];     /* the export format chosen, while its path is asked */
    bool quit;
    int H, W;
    int table_y, table_h, bottom_y, bottom_h, hist_w; /* layout */
    /* log (lines from qb_log on any thread and from stderr) */
    pthread_mutex_t log_mu;
    char *log[TUI_LOG_LINES];
    int log_head, n_log;
    bool colors;
};

/* screen.c */
int tui_attr(const struct app *a, enum tui_role r);
void tui_screen_start(struct app *a);
void tui_screen_stop(void);
void tui_logf(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tui_drain_stderr(struct app *a);   /* stderr lines into the log (main thread) */
bool tui_signalled(int *sig);           /* SIGINT/SIGTERM received since the last call */
void tui_status(struct app *a, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* panel_top.c */
void tui_draw_top(const struct app *a);
/* panel_nodes.c */
void tui_nodes_rebuild(struct app *a);  /* re-filter and re-sort a->rows, keeping the selection */
void tui_draw_nodes(const struct app *a);
const char *tui_col_name(enum tui_col c);
int tui_nodes_col_at(const struct app *a, int x); /* the column under screen column x, -1 */
/* panel_history.c */
void tui_history_pareto(struct app *a);
void tui_draw_history(const struct app *a, int y, int x, int h, int w);
/* panel_bottom.c */
void tui_draw_bottom(const struct app *a);
void tui_draw_help(const struct app *a);
/* app.c */
int tui_count(const struct app *a, const enum qb_prec *prec, enum qb_prec p);

#endif
