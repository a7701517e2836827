/* The bottom of the screen: the history and log panes side by side, the status line
 * (progress with ETA while a job runs, else the last message, or the prompt), the key
 * bar, and the help window over everything. */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tui.h"

static const struct {
    const char *key, *label;
} keybar[] = {
    {"?", "Help"}, {"Spc", "Toggle"}, {"r", "Rebuild"}, {"s", "Sens"}, {"a", "Search"}, {"u", "Undo"},
    {"/", "Filter"}, {"<>", "Sort"}, {"p", "Save"}, {"e", "Export"}, {"q", "Quit"},
};

static const char *const help_lines[] = {
    "Keys",
    "  Up Down j k PgUp PgDn g G  move (mouse: click selects, wheel scrolls)",
    "  Space, double-click        toggle the selected node INT8 <-> FP16",
    "  t / m                      toggle its op type / its module (/model.23/)",
    "  u / U                      undo / redo a plan change",
    "  r / n                      rebuild and evaluate / images to evaluate on",
    "  s                          sensitivity: each node alone INT8 (sens column)",
    "  a                          search: the cheapest plan within a budget",
    "  Esc                        cancel the job (finished plans stay cached)",
    "  /                          filter: regex or text over names and op types",
    "  < > I (click a title)      sort by the previous / next column; invert",
    "  p / l                      save / load the session preset",
    "  e                          export: modelopt, trtexec, json or txt",
    "  Ctrl-L / q                 redraw / quit (asks to save unsaved changes)",
    "",
    "sens: mAP50-95 change when the node alone runs INT8 (the rest FP16).",
    "gain%: share of FP16's bit-operations its INT8 removes; cost: BOPs vs FP16.",
    "Numbers: CPU simulation (cpu-sim), exact INT8/FP16 numerics, not GPU speed.",
    "",
    "Press any key to close this help.",
};

static void draw_log(const struct app *a, int y, int x, int h, int w)
{
    struct app *m = (struct app *)a; /* the log lock only */
    attrset(tui_attr(a, ROLE_TITLE));
    mvhline(y, x, ' ', w);
    mvaddnstr(y, x, "log", w);
    attrset(A_NORMAL);
    pthread_mutex_lock(&m->log_mu);
    int shown = a->n_log < h - 1 ? a->n_log : h - 1;
    for (int r = 0; r < h - 1; r++) {
        mvhline(y + 1 + r, x, ' ', w);
        if (r < shown) {
            const char *s = a->log[(a->log_head + a->n_log - shown + r) % TUI_LOG_LINES];
            bool err = strncmp(s, "error", 5) == 0 || strncmp(s, "warning", 7) == 0;
            if (err)
                attron(tui_attr(a, ROLE_DELTA_BAD));
            mvaddnstr(y + 1 + r, x, s, w);
            if (err)
                attroff(tui_attr(a, ROLE_DELTA_BAD));
        }
    }
    pthread_mutex_unlock(&m->log_mu);
}

static void fmt_time(double s, char *buf, size_t len)
{
    if (s < 0 || isnan(s))
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.0fs", s);
    else
        snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void draw_status(const struct app *a, int y)
{
    move(y, 0);
    clrtoeol();
    if (a->prompt != PROMPT_NONE) {
        attron(tui_attr(a, ROLE_TITLE));
        printw("%s", a->ptitle);
        attroff(tui_attr(a, ROLE_TITLE));
        addnstr(a->pbuf, a->W - (int)strlen(a->ptitle) - 1);
        return;
    }
    if (a->running && a->job) {
        struct work_job *j = a->job;
        char what[96], el[16], eta[16];
        int done, total, batch, nb;
        double eta_s;
        pthread_mutex_lock(&j->mu);
        snprintf(what, sizeof(what), "%s", j->what);
        done = j->done, total = j->total, eta_s = j->eta, batch = j->batch, nb = j->n_batches;
        pthread_mutex_unlock(&j->mu);
        double frac = total > 0 ? (done + (nb > 0 && done < total ? (double)batch / nb : 0)) / total : 0;
        int bar = 20, fill = (int)(frac * bar);
        if (fill > bar)
            fill = bar;
        fmt_time(qb_cli_now() - a->job_t0, el, sizeof(el));
        fmt_time(eta_s, eta, sizeof(eta));
        addch('[');
        attron(tui_attr(a, ROLE_BAR));
        for (int i = 0; i < fill; i++)
            addch(' ');
        attroff(tui_attr(a, ROLE_BAR));
        for (int i = fill; i < bar; i++)
            addch('.');
        printw("] %d/%d", done, total);
        if (nb > 0 && done < total)
            printw(" b%d/%d", batch, nb);
        printw(" %s  %s, ETA %s  Esc cancels", what, el, eta);
        return;
    }
    if (a->status[0]) {
        if (a->status_err)
            attron(tui_attr(a, ROLE_ERROR));
        addnstr(a->status, a->W);
        if (a->status_err)
            attroff(tui_attr(a, ROLE_ERROR));
    }
}

void tui_draw_bottom(const struct app *a)
{
    int y = a->bottom_y, h = a->bottom_h;
    tui_draw_history(a, y, 0, h, a->hist_w);
    draw_log(a, y, a->hist_w + 1, h, a->W - a->hist_w - 1);
    draw_status(a, a->H - 2);
    move(a->H - 1, 0);
    clrtoeol();
    for (size_t i = 0; i < sizeof(keybar) / sizeof(keybar[0]); i++) {
        int x = getcurx(stdscr);
        if (x + (int)strlen(keybar[i].key) + (int)strlen(keybar[i].label) + 1 > a->W)
            break;
        attron(tui_attr(a, ROLE_KEY));
        addstr(keybar[i].key);
        attroff(tui_attr(a, ROLE_KEY));
        printw("%s ", keybar[i].label);
    }
}

void tui_draw_help(const struct app *a)
{
    int n = (int)(sizeof(help_lines) / sizeof(help_lines[0]));
    int w = a->W - 2 < 92 ? a->W - 2 : 92, h = n + 2 < a->H ? n + 2 : a->H;
    int y0 = (a->H - h) / 2, x0 = (a->W - w) / 2;
    for (int r = 0; r < h; r++) {
        mvhline(y0 + r, x0, ' ', w);
        if (r > 0 && r - 1 < n && r < h - 1)
            mvaddnstr(y0 + r, x0 + 1, help_lines[r - 1], w - 2);
    }
    attron(tui_attr(a, ROLE_TITLE));
    mvaddnstr(y0, x0 + 1, "qbench help", w - 2);
    attroff(tui_attr(a, ROLE_TITLE));
}
