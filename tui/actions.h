/* What the workbench's keys do to the session: plan edits with undo, the jobs on the
 * worker thread and what their results change, presets and exports. Called on the
 * screen thread only. */
#ifndef QB_TUI_ACTIONS_H
#define QB_TUI_ACTIONS_H

#include "tui.h"

enum tui_group {
    TUI_GROUP_NODE = 0,          /* the selected node */
    TUI_GROUP_OP,                /* every node of its op type */
    TUI_GROUP_MODULE,            /* every node of its Ultralytics module (/model.23/) */
    TUI_GROUP_COUNT
};

void tui_act_toggle(struct app *a, enum tui_group g);
void tui_act_undo(struct app *a);
void tui_act_redo(struct app *a);

void tui_act_open(struct app *a);     /* WORK_OPEN, then the first build */
void tui_act_rebuild(struct app *a);
void tui_act_sens(struct app *a);
void tui_act_search(struct app *a, double budget);
void tui_jobs_poll(struct app *a);    /* takes a finished job's results */
void tui_jobs_stop(struct app *a);    /* cancels and joins the running job */
void tui_builds_clear(struct app *a);

/* Shared by actions.c and session.c. */
struct build *tui_build_new(struct app *a);   /* a zeroed build at a->builds[a->n_builds] (not counted yet) */
bool tui_will_change(struct app *a);           /* the plan onto the undo stack before a change */
void tui_changed(struct app *a);               /* after a change */
size_t tui_prec_bytes(const struct app *a);
/* Applies a preset to the open session: its plan and history (and, at start, its
 * image count). Errors go to the status line; nothing changes on error. */
enum qb_status tui_preset_apply(struct app *a, const struct qb_preset *p, bool at_start);

/* --preset at start (tui/cli_preset.h, as every command): model (sha256 checked),
 * data, calibration and op-set where the command line gave none; its plan and history
 * are applied once the model is open. Errors are printed (the screen is not up yet). */
enum qb_status tui_preset_start(struct app *a);
enum qb_status tui_act_save(struct app *a, const char *path);
void tui_act_load(struct app *a, const char *path);
/* The file extension of an export format ("modelopt" -> "sh"), NULL for an unknown one. */
const char *tui_export_ext(const char *format);
void tui_act_export(struct app *a, const char *format, const char *path);
/* After SIGTERM/SIGHUP with unsaved changes: the session into qbench-session.recovered.json. */
void tui_recover(struct app *a);

#endif
