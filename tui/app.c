/* qbench tui (and qbench with no arguments): the interactive workbench. The state,
 * the main loop, the key table, the mouse and the prompts; the plan edits, jobs,
 * presets and exports are in actions.c. */
#include <curses.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "cli.h"
#include "core/op.h"
#include "tui.h"

static const char usage[] =
    "usage: qbench tui [--model M] [--data D.yaml [--split S] | --images DIR | --pack P] [--images-max N]\n"
    "                  [--calib C.json] [--op-set SET] [--preset P] [--threads N]\n"
    "       qbench      (no arguments: the bundled demo, with its calibration)\n";

int tui_count(const struct app *a, const enum qb_prec *prec, enum qb_prec p)
{
    int n = 0;
    for (int i = 0; prec && a->w.g && i < a->w.g->n_order; i++)
        n += prec[a->w.g->order[i]] == p;
    return n;
}

/* ---- layout and drawing ---- */

static void layout(struct app *a)
{
    getmaxyx(stdscr, a->H, a->W);
    a->bottom_h = a->H >= 40 ? 10 : a->H >= 30 ? 8 : 6;
    a->table_y = 6;
    a->table_h = a->H - a->table_y - a->bottom_h - 2;
    if (a->table_h < 3)
        a->table_h = 3;
    a->bottom_y = a->table_y + a->table_h;
    a->hist_w = a->W / 2;
}

static void draw(struct app *a)
{
    erase();
    if (a->H < 24 || a->W < 80) {
        mvprintw(a->H / 2, 0, "qbench needs at least 80x24 (this terminal: %dx%d)", a->W, a->H);
        refresh();
        return;
    }
    tui_draw_top(a);
    tui_draw_nodes(a);
    tui_draw_bottom(a);
    if (a->help)
        tui_draw_help(a);
    refresh();
}

/* ---- moving in the table ---- */

static void select_row(struct app *a, int row)
{
    int rows = a->table_h - 1;
    if (row >= a->n_rows)
        row = a->n_rows - 1;
    if (row < 0)
        row = 0;
    a->sel = row;
    if (a->sel < a->top)
        a->top = a->sel;
    if (a->sel >= a->top + rows)
        a->top = a->sel - rows + 1;
}

static void act_up(struct app *a) { select_row(a, a->sel - 1); }
static void act_down(struct app *a) { select_row(a, a->sel + 1); }
static void act_pgup(struct app *a) { select_row(a, a->sel - (a->table_h - 1)); }
static void act_pgdn(struct app *a) { select_row(a, a->sel + (a->table_h - 1)); }
static void act_home(struct app *a) { select_row(a, 0); }
static void act_end(struct app *a) { select_row(a, a->n_rows - 1); }

static void sort_by(struct app *a, enum tui_col c)
{
    if (a->sort == c)
        a->sort_desc = !a->sort_desc;
    a->sort = c;
    tui_nodes_rebuild(a);
    tui_status(a, false, "sorted by %s%s", tui_col_name(c), a->sort_desc ? ", descending" : "");
}

static void act_sort_next(struct app *a)
{
    a->sort = (enum tui_col)((a->sort + 1) % COL_COUNT);
    a->sort_desc = a->sort == COL_SENS || a->sort == COL_GAIN; /* the biggest first */
    tui_nodes_rebuild(a);
    tui_status(a, false, "sorted by %s", tui_col_name(a->sort));
}

static void act_sort_prev(struct app *a)
{
    a->sort = (enum tui_col)((a->sort + COL_COUNT - 1) % COL_COUNT);
    a->sort_desc = a->sort == COL_SENS || a->sort == COL_GAIN;
    tui_nodes_rebuild(a);
    tui_status(a, false, "sorted by %s", tui_col_name(a->sort));
}

static void act_sort_invert(struct app *a)
{
    a->sort_desc = !a->sort_desc;
    tui_nodes_rebuild(a);
}

/* ---- prompts ---- */

static void prompt(struct app *a, enum tui_prompt p, const char *title, const char *initial)
{
    a->prompt = p;
    snprintf(a->ptitle, sizeof(a->ptitle), "%s", title);
    snprintf(a->pbuf, sizeof(a->pbuf), "%s", initial ? initial : "");
    a->plen = (int)strlen(a->pbuf);
    curs_set(1);
}

static void set_filter(struct app *a, const char *f)
{
    if (a->re_ok)
        regfree(&a->re);
    snprintf(a->filter, sizeof(a->filter), "%s", f);
    a->re_ok = f[0] && regcomp(&a->re, f, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0;
    tui_nodes_rebuild(a);
}

static void act_filter(struct app *a)
{
    snprintf(a->saved_filter, sizeof(a->saved_filter), "%s", a->filter);
    prompt(a, PROMPT_FILTER, "filter (regex or text over name and op; Enter keeps, Esc restores): ", a->filter);
}

static void act_images(struct app *a)
{
    char title[128], cur[32] = "";
    int all = a->w.src.set ? a->w.src.set->n_images : 0;
    if (!a->opened)
        return;
    snprintf(title, sizeof(title), "images a rebuild evaluates (1-%d, empty = all): ", all);
    if (a->eval_images > 0)
        snprintf(cur, sizeof(cur), "%d", a->eval_images);
    prompt(a, PROMPT_IMAGES, title, cur);
}

static void act_search_prompt(struct app *a)
{
    if (!a->opened)
        return;
    if (a->running) {
        tui_status(a, true, "busy: %s (Esc cancels it)", "a job is running");
        return;
    }
    prompt(a, PROMPT_BUDGET, "search budget, mAP50-95 points below FP16 (0.5 = 0.005): ", "0.5");
}

static void act_save_prompt(struct app *a)
{
    if (a->opened)
        prompt(a, PROMPT_SAVE, "save session preset to: ", a->preset_path ? a->preset_path : "qbench-session.json");
}

static void act_load_prompt(struct app *a)
{
    if (a->opened)
        prompt(a, PROMPT_LOAD, "load session preset: ", a->preset_path ? a->preset_path : "qbench-session.json");
}

static void act_export_prompt(struct app *a)
{
    if (a->opened)
        prompt(a, PROMPT_EXPORT_FORMAT, "export format (modelopt, trtexec, json, txt): ", "modelopt");
}

static void act_quit(struct app *a)
{
    if (a->dirty && a->opened) {
        char title[600];
        snprintf(title, sizeof(title), "unsaved changes: save to %s first? [y]es [n]o, Esc stays: ",
                 a->preset_path ? a->preset_path : "qbench-session.json");
        prompt(a, PROMPT_QUIT_SAVE, title, "");
        return;
    }
    a->quit = true;
}

static void act_help(struct app *a) { a->help = true; }
static void act_redraw(struct app *a) { clearok(curscr, TRUE); (void)a; }

static void act_escape(struct app *a)
{
    if (a->running) {
        atomic_store(&a->w.cancel, 1);
        tui_status(a, false, "cancelling ...");
    } else if (a->filter[0]) {
        set_filter(a, "");
        tui_status(a, false, "filter cleared");
    }
}

static void prompt_done(struct app *a, bool ok)
{
    enum tui_prompt p = a->prompt;
    char v[512];
    snprintf(v, sizeof(v), "%s", a->pbuf);
    a->prompt = PROMPT_NONE;
    curs_set(0);
    switch (p) {
    case PROMPT_FILTER:
        if (!ok)
            set_filter(a, a->saved_filter);
        else
            tui_status(a, false, "%d of %d nodes match '%s'%s", a->n_rows, a->w.g->n_order, a->filter,
                       a->filter[0] && !a->re_ok ? " (as text: not a valid regex)" : "");
        break;
    case PROMPT_IMAGES:
        if (ok) {
            char *end;
            long n = strtol(v, &end, 10);
            int all = a->w.src.set->n_images;
            if (!v[0])
                n = 0;
            if ((v[0] && *end) || n < 0 || n > all) {
                tui_status(a, true, "images: a number from 1 to %d, or empty for all", all);
                break;
            }
            a->eval_images = n == all ? 0 : (int)n;
            tui_status(a, false, "rebuilds evaluate %d images (r rebuilds)", a->eval_images ? a->eval_images : all);
        }
        break;
    case PROMPT_BUDGET:
        if (ok) {
            char *end;
            double b = strtod(v, &end);
            if (!v[0] || *end || !(b >= 0 && b <= 100)) {
                tui_status(a, true, "budget: points of mAP50-95 below FP16, such as 0.5");
                break;
            }
            tui_act_search(a, b);
        }
        break;
    case PROMPT_SAVE:
        if (ok)
            tui_act_save(a, v);
        break;
    case PROMPT_LOAD:
        if (ok)
            tui_act_load(a, v);
        break;
    case PROMPT_EXPORT_FORMAT:
        if (ok) {
            char def[64];
            if (tui_export_ext(v) == NULL) {
                tui_status(a, true, "export: unknown format '%s' (modelopt, trtexec, json, txt)", v);
                break;
            }
            snprintf(a->pending_format, sizeof(a->pending_format), "%.15s", v);
            snprintf(def, sizeof(def), "qbench-export.%s", tui_export_ext(v));
            prompt(a, PROMPT_EXPORT_PATH, "export to: ", def);
        }
        break;
    case PROMPT_EXPORT_PATH:
        if (ok)
            tui_act_export(a, a->pending_format, v);
        break;
    case PROMPT_QUIT_SAVE:
        break;
    case PROMPT_NONE:
    case PROMPT_COUNT:
        break;
    }
}

static void prompt_key(struct app *a, int ch)
{
    if (a->prompt == PROMPT_QUIT_SAVE) {
        a->prompt = PROMPT_NONE;
        curs_set(0);
        if (ch == 'y' || ch == 'Y') {
            if (tui_act_save(a, a->preset_path ? a->preset_path : "qbench-session.json") == QB_OK)
                a->quit = true;
        } else if (ch == 'n' || ch == 'N') {
            a->quit = true;
        }
        return;
    }
    if (ch == 27) {
        prompt_done(a, false);
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        prompt_done(a, true);
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (a->plen > 0)
            a->pbuf[--a->plen] = 0;
    } else if (ch == 21) { /* Ctrl-U */
        a->plen = 0;
        a->pbuf[0] = 0;
    } else if (ch >= 32 && ch < 127 && a->plen < (int)sizeof(a->pbuf) - 1) {
        a->pbuf[a->plen++] = (char)ch;
        a->pbuf[a->plen] = 0;
    }
    if (a->prompt == PROMPT_FILTER)
        set_filter(a, a->pbuf);
}

/* ---- the key table ---- */

static void act_toggle(struct app *a) { tui_act_toggle(a, TUI_GROUP_NODE); }
static void act_toggle_op(struct app *a) { tui_act_toggle(a, TUI_GROUP_OP); }
static void act_toggle_module(struct app *a) { tui_act_toggle(a, TUI_GROUP_MODULE); }

typedef void (*action_fn)(struct app *a);

static const action_fn keys[KEY_MAX + 1] = {
    [KEY_UP] = act_up, ['k'] = act_up, [KEY_DOWN] = act_down, ['j'] = act_down,
    [KEY_PPAGE] = act_pgup, [KEY_NPAGE] = act_pgdn, [KEY_HOME] = act_home, ['g'] = act_home,
    [KEY_END] = act_end, ['G'] = act_end,
    [' '] = act_toggle, ['t'] = act_toggle_op, ['m'] = act_toggle_module,
    ['u'] = tui_act_undo, ['U'] = tui_act_redo,
    ['r'] = tui_act_rebuild, ['n'] = act_images, ['s'] = tui_act_sens, ['a'] = act_search_prompt,
    ['/'] = act_filter, ['<'] = act_sort_prev, ['>'] = act_sort_next, ['I'] = act_sort_invert,
    ['p'] = act_save_prompt, ['l'] = act_load_prompt, ['e'] = act_export_prompt,
    ['?'] = act_help, [KEY_F(1)] = act_help, ['q'] = act_quit, [KEY_F(10)] = act_quit,
    [12] = act_redraw, [27] = act_escape,
};

static void mouse(struct app *a)
{
    MEVENT ev;
    if (getmouse(&ev) != OK || !a->opened)
        return;
    if (ev.bstate & BUTTON4_PRESSED) {
        select_row(a, a->sel - 3);
    } else if (ev.bstate & BUTTON5_PRESSED) {
        select_row(a, a->sel + 3);
    } else if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON1_DOUBLE_CLICKED)) {
        if (ev.y == a->table_y) {
            int c = tui_nodes_col_at(a, ev.x);
            if (c >= 0 && (ev.bstate & (BUTTON1_CLICKED | BUTTON1_RELEASED)))
                sort_by(a, (enum tui_col)c);
        } else if (ev.y > a->table_y && ev.y < a->table_y + a->table_h) {
            int row = a->top + ev.y - a->table_y - 1;
            if (row < a->n_rows) {
                select_row(a, row);
                if (ev.bstate & BUTTON1_DOUBLE_CLICKED)
                    tui_act_toggle(a, TUI_GROUP_NODE);
            }
        }
    }
}

static void key(struct app *a, int ch)
{
    if (a->help) {
        a->help = false;
        return;
    }
    if (a->prompt != PROMPT_NONE) {
        prompt_key(a, ch);
        return;
    }
    if (ch == KEY_RESIZE) {
        layout(a);
        select_row(a, a->sel);
        return;
    }
    if (ch == KEY_MOUSE) {
        mouse(a);
        return;
    }
    if (a->status_err)
        a->status[0] = 0, a->status_err = false;
    if (ch >= 0 && ch <= KEY_MAX && keys[ch]) {
        bool needs_model = keys[ch] != act_quit && keys[ch] != act_help && keys[ch] != act_escape &&
                           keys[ch] != act_redraw;
        if (needs_model && !a->opened)
            tui_status(a, true, a->running ? "still opening the model (Esc cancels, q quits)"
                                           : "the model did not open (the log says why); q quits");
        else
            keys[ch](a);
    }
}

/* ---- arguments ---- */

static bool exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The bundled demo: the model and calibration in the source tree, the images
 * rendered into the build folder (next to this binary). */
static int demo_paths(struct app *a, bool max_given, char *model, char *calib, char *data, size_t len)
{
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    snprintf(model, len, "%s/assets/yolo12n-cones.onnx", QB_SOURCE_DIR);
    snprintf(calib, len, "%s/assets/yolo12n-cones.calib.json", QB_SOURCE_DIR);
    data[0] = 0;
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(data, len, "%s/demo/data.yaml", exe);
        }
    }
    if (!data[0] || !exists(data))
        snprintf(data, len, "%s/demo/data.yaml", QB_BUILD_DIR);
    if (!exists(model) || !exists(data)) {
        fprintf(stderr, "qbench: the bundled demo is not here (%s, %s): build it with `cmake --build build`, or "
                        "open a model with `qbench tui --model M --data D.yaml`\n",
                exists(model) ? data : model, exists(model) ? "its images are rendered at build time" : "the model");
        return -1;
    }
    a->w.model = model;
    a->w.calib = exists(calib) ? calib : NULL;
    a->w.src_opts.data = data;
    if (!max_given)
        a->w.src_opts.max = 200; /* the demo opens on 200 of its 1000 val images: --images-max N for more */
    return 0;
}

static int parse(struct app *a, int argc, char **argv, bool *max_given)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int r = qb_cli_source_opt(argc, argv, &i, &a->w.src_opts);
        if (r < 0)
            return -1;
        if (r > 0) {
            *max_given |= strcmp(o, "--images-max") == 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "qbench tui: %s %s\n%s", o, o[0] == '-' ? "needs a value" : "is not an option", usage);
            return -1;
        }
        if (strcmp(o, "--model") == 0) {
            a->w.model = argv[++i];
        } else if (strcmp(o, "--calib") == 0) {
            a->w.calib = argv[++i];
        } else if (strcmp(o, "--op-set") == 0) {
            a->w.op_set = argv[++i];
        } else if (strcmp(o, "--preset") == 0) {
            a->preset_path = argv[++i];
        } else if (strcmp(o, "--threads") == 0) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 1024) {
                fprintf(stderr, "qbench tui: bad --threads '%s'\n", argv[i]);
                return -1;
            }
            a->w.threads = (int)t;
        } else {
            fprintf(stderr, "qbench tui: unknown option %s\n%s", o, usage);
            return -1;
        }
    }
    return 0;
}

static void app_free(struct app *a)
{
    tui_jobs_stop(a);
    tui_builds_clear(a);
    for (int i = 0; i < a->n_undo; i++)
        free(a->undo[i]);
    for (int i = 0; i < a->n_redo; i++)
        free(a->redo[i]);
    free(a->undo);
    free(a->redo);
    free(a->builds);
    free(a->prec);
    free(a->rows);
    free(a->gain);
    free(a->sens);
    qb_sens_free(a->rank);
    if (a->loaded) {
        qb_preset_free(a->loaded);
        free(a->loaded);
    }
    if (a->re_ok)
        regfree(&a->re);
    for (int i = 0; i < a->n_log; i++)
        free(a->log[(a->log_head + i) % TUI_LOG_LINES]);
    pthread_mutex_destroy(&a->log_mu);
    work_close(&a->w);
}

int qb_cmd_tui(int argc, char **argv)
{
    static char model[PATH_MAX], calib[PATH_MAX], data[PATH_MAX];
    struct app *a = calloc(1, sizeof(*a));
    bool max_given = false;
    int rc = QB_EXIT_OK, sig;

    if (!a)
        return QB_EXIT_FAIL;
    pthread_mutex_init(&a->log_mu, NULL);
    a->cur_build = a->prev_build = -1;
    if (parse(a, argc, argv, &max_given) != 0) {
        rc = QB_EXIT_USAGE;
        goto out;
    }
    if (a->preset_path && tui_preset_start(a) != QB_OK) {
        rc = QB_EXIT_USAGE;
        goto out;
    }
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "qbench tui: needs a terminal (the headless commands are `qbench help`)\n");
        rc = QB_EXIT_USAGE;
        goto out;
    }
    if (!a->w.model && !a->w.src_opts.data && !a->w.src_opts.images && !a->w.src_opts.pack &&
        demo_paths(a, max_given, model, calib, data, sizeof(model)) != 0) {
        rc = QB_EXIT_USAGE;
        goto out;
    }
    if (!a->w.model || qb_cli_source_check(&a->w.src_opts) < 0) {
        fprintf(stderr, "qbench tui: give --model M and the evaluation images\n%s", usage);
        rc = QB_EXIT_USAGE;
        goto out;
    }
    tui_screen_start(a);
    layout(a);
    tui_logf(a, "qbench: opening %s", a->w.model);
    tui_act_open(a);
    while (!a->quit) {
        tui_drain_stderr(a);
        tui_jobs_poll(a);
        if (tui_signalled(&sig)) {
            if (sig == SIGINT)
                act_quit(a);
            else
                break;
        }
        draw(a);
        timeout(a->running ? 40 : 200);
        int ch = getch();
        if (ch != ERR)
            key(a, ch);
    }
    tui_jobs_stop(a);
    tui_screen_stop();
    if (!a->quit && a->dirty)
        tui_recover(a);
    if (!a->opened) {
        int from = a->n_log > 6 ? a->n_log - 6 : 0; /* what the log pane said about it */
        for (int i = from; i < a->n_log; i++)
            fprintf(stderr, "  %s\n", a->log[(a->log_head + i) % TUI_LOG_LINES]);
        fprintf(stderr, "qbench tui: %s did not open%s%s\n", a->w.model, a->open_err[0] ? ": " : "", a->open_err);
        rc = QB_EXIT_FAIL;
    }
out:
    app_free(a);
    free(a);
    return rc;
}
