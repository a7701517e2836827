/* The history pane: every build on the current image count as mAP50-95 against
 * cost (bit-operations relative to all-FP16), the Pareto front marked. */
#include <curses.h>
#include <math.h>
#include <stdio.h>

#include "tui.h"

/* A build is on the front when no other build of the same image count is at most as
 * costly and at least as accurate, and strictly better in one of the two. */
void tui_history_pareto(struct app *a)
{
    for (int i = 0; i < a->n_builds; i++) {
        struct build *b = &a->builds[i];
        b->pareto = !isnan(b->r.map50_95);
        for (int j = 0; j < a->n_builds && b->pareto; j++) {
            const struct build *o = &a->builds[j];
            if (j == i || o->images != b->images || isnan(o->r.map50_95))
                continue;
            if (o->cost <= b->cost && o->r.map50_95 >= b->r.map50_95 &&
                (o->cost < b->cost || o->r.map50_95 > b->r.map50_95))
                b->pareto = false;
        }
    }
}

void tui_draw_history(const struct app *a, int y, int x, int h, int w)
{
    int images = a->cur_build >= 0 ? a->builds[a->cur_build].images : a->base_images;
    double lo = INFINITY, hi = -INFINITY, clo = 0.25, chi = 1.0;
    int pw = w - 8, ph = h - 2;

    attrset(tui_attr(a, ROLE_TITLE));
    mvhline(y, x, ' ', w);
    mvprintw(y, x, "history: mAP50-95 vs cost (%d builds)", a->n_builds);
    attrset(A_NORMAL);
    for (int r = 1; r < h; r++)
        mvhline(y + r, x, ' ', w);
    if (ph < 2 || pw < 10)
        return;
    for (int i = 0; i < a->n_builds; i++) {
        const struct build *b = &a->builds[i];
        if (b->images != images || isnan(b->r.map50_95))
            continue;
        lo = fmin(lo, b->r.map50_95);
        hi = fmax(hi, b->r.map50_95);
        clo = fmin(clo, b->cost);
        chi = fmax(chi, b->cost);
    }
    if (a->have_base && a->base_images == images) {
        lo = fmin(lo, a->fp16.map50_95);
        hi = fmax(hi, a->fp16.map50_95);
    }
    if (!(hi >= lo)) {
        mvaddstr(y + 1, x, " no builds yet: r rebuilds, a searches");
        return;
    }
    if (hi - lo < 1e-3)
        lo -= 5e-4, hi += 5e-4;
    mvprintw(y + 1, x, "%7.4f", hi);
    mvprintw(y + ph, x, "%7.4f", lo);
    for (int r = 1; r <= ph; r++)
        mvaddch(y + r, x + 7, '|');
    mvhline(y + ph + 1, x + 8, '-', pw);
    mvprintw(y + ph + 1, x, "cost %.2f", clo);
    mvprintw(y + ph + 1, x + w - 5, "%4.2f", chi);
    /* FP16, then the builds, then the front and the current build on top */
    for (int pass = 0; pass < 4; pass++)
        for (int i = pass == 0 ? -1 : 0; i < (pass == 0 ? 0 : a->n_builds); i++) {
            double m, c;
            char ch;
            enum tui_role role;
            if (i < 0) {
                if (!a->have_base || a->base_images != images)
                    continue;
                m = a->fp16.map50_95, c = 1.0, ch = 'F', role = ROLE_PREC_FP16;
            } else {
                const struct build *b = &a->builds[i];
                if (b->images != images || isnan(b->r.map50_95))
                    continue;
                if ((pass == 2 && !b->pareto) || (pass == 3 && i != a->cur_build))
                    continue;
                m = b->r.map50_95, c = b->cost;
                ch = pass == 3 ? '@' : pass == 2 ? 'o' : '.';
                role = pass == 3 ? ROLE_CURRENT : pass == 2 ? ROLE_PARETO : ROLE_NORMAL;
            }
            int px = (int)lround((c - clo) / (chi - clo > 0 ? chi - clo : 1) * (pw - 1));
            int py = (int)lround((hi - m) / (hi - lo) * (ph - 1));
            attron(tui_attr(a, role));
            mvaddch(y + 1 + py, x + 8 + px, (chtype)ch);
            attroff(tui_attr(a, role));
        }
}
