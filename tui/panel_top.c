/* The header (model, executor and device, batch, calibration, data) and the summary:
 * FP32 and FP16 baselines and the current plan, with deltas against FP16 and against
 * the previous build. */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tui.h"

static const char *base_name(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

static void line(const struct app *a, int y, enum tui_role role, const char *text)
{
    attrset(tui_attr(a, role));
    mvhline(y, 0, ' ', a->W);
    mvaddnstr(y, 0, text, a->W);
    attrset(A_NORMAL);
}

static void num(double v, int decimals, int width)
{
    if (isnan(v))
        printw("%*s", width, "-");
    else
        printw("%*.*f", width, decimals, v);
}

static void delta(const struct app *a, double d, int width)
{
    if (isnan(d)) {
        printw("%*s", width, "");
        return;
    }
    enum tui_role r = fabs(d) < 5e-5 ? ROLE_NORMAL : d > 0 ? ROLE_DELTA_GOOD : ROLE_DELTA_BAD;
    attron(tui_attr(a, r));
    printw("%+*.4f", width, d);
    attroff(tui_attr(a, r));
}

static void row(const struct app *a, int y, const char *label, const struct qb_sweep_result *r, double ms,
                double cost, double vs_fp16, double vs_prev, enum tui_role role)
{
    move(y, 0);
    clrtoeol();
    attron(tui_attr(a, role));
    printw(" %-8s", label);
    attroff(tui_attr(a, role));
    num(r ? r->map50 : NAN, 4, 7);
    num(r ? r->map50_95 : NAN, 4, 10);
    num(r ? r->precision : NAN, 3, 7);
    num(r ? r->recall : NAN, 3, 7);
    num(ms, 1, 9);
    num(cost, 3, 7);
    delta(a, vs_fp16, 10);
    delta(a, vs_prev, 10);
}

void tui_draw_top(const struct app *a)
{
    const struct work *w = &a->w;
    char buf[1024];
    const struct qb_graph *g = w->g;

    if (g) {
        const struct qb_value *in = &g->values[g->inputs[0]];
        snprintf(buf, sizeof(buf), " qbench  %s  input [%lld,%lld,%lld,%lld] batch %lld  %d quantizable nodes  op-set %s",
                 base_name(w->model), (long long)in->shape[0], (long long)in->shape[1], (long long)in->shape[2],
                 (long long)in->shape[3], (long long)in->shape[0], tui_count(a, w->int8, QB_PREC_INT8),
                 w->op_set ? w->op_set : "core");
    } else {
        snprintf(buf, sizeof(buf), " qbench  %s  (loading)", base_name(w->model));
    }
    line(a, 0, ROLE_HEADER, buf);
    if (w->calib && w->calib_method[0])
        snprintf(buf, sizeof(buf), " exec cpu-sim (exact INT8/FP16 on the CPU), %s | calib %s, %d images (%s) | data %s, %d images",
                 w->device, w->calib_method, w->calib_images, base_name(w->calib), base_name(w->src.name),
                 w->src.set ? w->src.set->n_images : 0);
    else
        snprintf(buf, sizeof(buf), " exec cpu-sim (exact INT8/FP16 on the CPU), %s | calib %s | data %s, %d images",
                 w->device[0] ? w->device : "cpu", w->calib ? base_name(w->calib) : "none (FP16 only: give --calib)",
                 base_name(w->src.name), w->src.set ? w->src.set->n_images : 0);
    line(a, 1, ROLE_NORMAL, buf);

    attrset(tui_attr(a, ROLE_TITLE));
    mvhline(2, 0, ' ', a->W);
    mvprintw(2, 0, " %-8s%7s%10s%7s%7s%9s%7s%10s%10s", "", "mAP50", "mAP50-95", "prec", "recall", "ms/img", "cost",
             "vs FP16", "vs prev");
    if (a->W > 80)
        printw("  (images %d)", a->have_base ? a->base_images : 0);
    attrset(A_NORMAL);

    const struct qb_sweep_result *fp32 = a->have_base ? &a->fp32 : NULL, *fp16 = a->have_base ? &a->fp16 : NULL;
    row(a, 3, "FP32", fp32, NAN, NAN, NAN, NAN, ROLE_NORMAL);
    row(a, 4, "FP16", fp16, NAN, 1.0, NAN, NAN, ROLE_PREC_FP16);
    if (a->cur_build >= 0) {
        const struct build *b = &a->builds[a->cur_build];
        const struct build *p = a->prev_build >= 0 ? &a->builds[a->prev_build] : NULL;
        bool stale = !b->prec || memcmp(b->prec, a->prec, (size_t)w->g->n_nodes * sizeof(*a->prec)) != 0;
        double vs16 = fp16 && b->images == a->base_images ? b->r.map50_95 - fp16->map50_95 : NAN;
        double vsp = p && p->images == b->images ? b->r.map50_95 - p->r.map50_95 : NAN;
        row(a, 5, stale ? "plan*" : "plan", &b->r, b->latency_ms, b->cost, vs16, vsp, ROLE_CURRENT);
    } else {
        row(a, 5, "plan", NULL, NAN, NAN, NAN, NAN, ROLE_CURRENT);
        if (a->opened) {
            move(5, 12);
            clrtoeol();
            addstr("(not built yet: r rebuilds and evaluates)");
        }
    }
}
