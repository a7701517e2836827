/* The node table: every runtime node with its op, output shape, precision,
 * sensitivity cost and speed gain; sorted by any column, filtered by `/`. */
#define _GNU_SOURCE /* qsort_r */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui.h"

static const struct {
    const char *title;
    int width;                   /* 0: the name column takes what is left */
    bool right;
} cols[COL_COUNT] = {
    [COL_INDEX] = {"#", 4, true},
    [COL_NAME] = {"name", 0, false},
    [COL_OP] = {"op", 10, false},
    [COL_SHAPE] = {"output", 14, false},
    [COL_PREC] = {"prec", 4, false},
    [COL_SENS] = {"sens", 8, true},
    [COL_GAIN] = {"gain%", 6, true},
};

const char *tui_col_name(enum tui_col c)
{
    return cols[c].title;
}

static int col_width(const struct app *a, enum tui_col c)
{
    if (cols[c].width)
        return cols[c].width;
    int used = 0;
    for (int i = 0; i < COL_COUNT; i++)
        used += cols[i].width + 1;
    return a->W - used - 1 > 8 ? a->W - used - 1 : 8;
}

int tui_nodes_col_at(const struct app *a, int x)
{
    int at = 0;
    for (int c = 0; c < COL_COUNT; c++) {
        int w = col_width(a, (enum tui_col)c) + 1;
        if (x >= at && x < at + w)
            return c;
        at += w;
    }
    return -1;
}

static void shape_str(const struct qb_graph *g, const struct qb_node *n, char *buf, size_t len)
{
    const struct qb_value *v = n->n_out > 0 && n->out[0] >= 0 ? &g->values[n->out[0]] : NULL;
    size_t at = 0;
    buf[0] = 0;
    for (int d = 0; v && d < v->ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, d ? "x%lld" : "%lld", (long long)v->shape[d]);
}

static double elements(const struct qb_graph *g, const struct qb_node *n)
{
    const struct qb_value *v = n->n_out > 0 && n->out[0] >= 0 ? &g->values[n->out[0]] : NULL;
    double e = 1;
    for (int d = 0; v && d < v->ndim; d++)
        e *= (double)v->shape[d];
    return v ? e : 0;
}

static int cmp_num(double x, double y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y); /* unmeasured last */
    return (x > y) - (x < y);
}

static int cmp_rows(const void *pa, const void *pb, void *user)
{
    const struct app *a = user;
    const struct qb_graph *g = a->w.g;
    int x = *(const int *)pa, y = *(const int *)pb, c = 0;
    switch (a->sort) {
    case COL_INDEX:
        break;
    case COL_NAME:
        c = strcmp(g->nodes[x].name, g->nodes[y].name);
        break;
    case COL_OP:
        c = strcmp(g->nodes[x].op_type, g->nodes[y].op_type);
        break;
    case COL_SHAPE:
        c = cmp_num(elements(g, &g->nodes[x]), elements(g, &g->nodes[y]));
        break;
    case COL_PREC:
        c = (int)a->prec[x] - (int)a->prec[y];
        break;
    case COL_SENS:
        c = cmp_num(a->sens[x], a->sens[y]);
        break;
    case COL_GAIN:
        c = cmp_num(a->gain[x], a->gain[y]);
        break;
    case COL_COUNT:
        break;
    }
    if (a->sort_desc && !(a->sort == COL_SENS && (isnan(a->sens[x]) || isnan(a->sens[y]))))
        c = -c;
    return c ? c : (x > y) - (x < y);
}

static bool contains_nocase(const char *h, const char *n)
{
    size_t len = strlen(n);
    for (; *h; h++)
        if (strncasecmp(h, n, len) == 0)
            return true;
    return len == 0;
}

static bool shown(const struct app *a, const struct qb_node *n)
{
    char both[1024];
    if (!a->filter[0])
        return true;
    snprintf(both, sizeof(both), "%s %s", n->name, n->op_type);
    if (a->re_ok)
        return regexec(&a->re, both, 0, NULL, 0) == 0;
    return contains_nocase(both, a->filter);
}

void tui_nodes_rebuild(struct app *a)
{
    const struct qb_graph *g = a->w.g;
    int keep = a->n_rows > 0 && a->sel < a->n_rows ? a->rows[a->sel] : -1;
    if (!g)
        return;
    a->n_rows = 0;
    for (int i = 0; i < g->n_order; i++)
        if (shown(a, &g->nodes[g->order[i]]))
            a->rows[a->n_rows++] = g->order[i];
    qsort_r(a->rows, (size_t)a->n_rows, sizeof(int), cmp_rows, a);
    a->sel = 0;
    for (int r = 0; r < a->n_rows; r++)
        if (a->rows[r] == keep)
            a->sel = r;
    if (a->sel < a->top || a->sel >= a->top + a->table_h - 1)
        a->top = a->sel - (a->table_h - 1) / 2;
    if (a->top > a->n_rows - (a->table_h - 1))
        a->top = a->n_rows - (a->table_h - 1);
    if (a->top < 0)
        a->top = 0;
}

static void cell(const char *s, int width, bool right)
{
    int n = (int)strlen(s);
    if (n > width) /* keep the end of a long name: it says which conv */
        printw("~%s ", s + n - width + 1);
    else
        printw(right ? "%*s " : "%-*s ", width, s);
}

void tui_draw_nodes(const struct app *a)
{
    const struct qb_graph *g = a->w.g;
    int y0 = a->table_y, rows = a->table_h - 1;
    char buf[512];

    attrset(tui_attr(a, ROLE_TITLE));
    mvhline(y0, 0, ' ', a->W);
    move(y0, 0);
    for (int c = 0; c < COL_COUNT; c++) {
        char t[64];
        snprintf(t, sizeof(t), "%s%s", cols[c].title, (int)a->sort == c ? (a->sort_desc ? "v" : "^") : "");
        if (c == COL_SENS && a->sens_metric)
            snprintf(t, sizeof(t), "%s%s", a->sens_metric, (int)a->sort == c ? (a->sort_desc ? "v" : "^") : "");
        cell(t, col_width(a, (enum tui_col)c), cols[c].right);
    }
    attrset(A_NORMAL);
    if (!g)
        return;
    for (int r = 0; r < rows; r++) {
        int y = y0 + 1 + r, row = a->top + r;
        move(y, 0);
        clrtoeol();
        if (row >= a->n_rows)
            continue;
        int k = a->rows[row];
        const struct qb_node *n = &g->nodes[k];
        bool capable = qb_plan_node_int8_capable(g, n), sel = row == a->sel;
        int base = sel ? tui_attr(a, ROLE_SELECTED) : capable ? 0 : tui_attr(a, ROLE_DIM);
        if (sel)
            mvhline(y, 0, ' ', a->W);
        attrset(base);
        snprintf(buf, sizeof(buf), "%s%d", sel ? ">" : "", k); /* visible without colour too */
        cell(buf, cols[COL_INDEX].width, true);
        cell(n->name, col_width(a, COL_NAME), false);
        cell(n->op_type, cols[COL_OP].width, false);
        shape_str(g, n, buf, sizeof(buf));
        cell(buf, cols[COL_SHAPE].width, false);
        if (!sel)
            attrset(tui_attr(a, a->prec[k] == QB_PREC_INT8 ? ROLE_PREC_INT8 : ROLE_PREC_FP16) | base);
        cell(qb_plan_prec_name(a->prec[k]), cols[COL_PREC].width, false);
        attrset(base);
        if (isnan(a->sens[k]))
            snprintf(buf, sizeof(buf), "%s", capable && a->w.int8[k] == QB_PREC_INT8 ? "." : "");
        else
            snprintf(buf, sizeof(buf), "%+.4f", -a->sens[k]); /* the change INT8 makes */
        cell(buf, cols[COL_SENS].width, true);
        if (a->gain[k] > 0)
            snprintf(buf, sizeof(buf), "%.2f", 100 * a->gain[k]);
        else
            buf[0] = 0;
        cell(buf, cols[COL_GAIN].width, true);
        attrset(A_NORMAL);
    }
}
