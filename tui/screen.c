/* The terminal: curses start and restore on every exit path, colour roles, and the
 * log pane's two sources (qb_log from any thread, and anything written to stderr,
 * which is a pipe while the screen is up, so nothing scribbles over it). */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tui.h"

/* role -> foreground, background, attributes with colour, attributes without */
static const struct {
    short fg, bg;
    int attr, mono;
} scheme[ROLE_COUNT] = {
    [ROLE_NORMAL] = {-1, -1, 0, 0},
    [ROLE_HEADER] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [ROLE_TITLE] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [ROLE_DELTA_GOOD] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [ROLE_DELTA_BAD] = {COLOR_RED, -1, A_BOLD, A_UNDERLINE},
    [ROLE_PREC_INT8] = {COLOR_YELLOW, -1, 0, A_BOLD},
    [ROLE_PREC_FP16] = {COLOR_BLUE, -1, A_BOLD, 0},
    [ROLE_DIM] = {-1, -1, A_DIM, A_DIM},
    [ROLE_SELECTED] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [ROLE_PARETO] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [ROLE_CURRENT] = {COLOR_MAGENTA, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [ROLE_ERROR] = {COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD},
    [ROLE_BAR] = {COLOR_BLACK, COLOR_GREEN, 0, A_REVERSE},
    [ROLE_KEY] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
};
_Static_assert(sizeof(scheme) / sizeof(scheme[0]) == ROLE_COUNT, "a colour for every role");

static int saved_stderr = -1, pipe_rd = -1;
static volatile sig_atomic_t got_signal;
static bool screen_up;
static char partial[1024];
static size_t partial_len;

int tui_attr(const struct app *a, enum tui_role r)
{
    return a->colors ? (int)COLOR_PAIR(r) | scheme[r].attr : scheme[r].mono;
}

static void on_quit_signal(int sig)
{
    got_signal = sig;
}

/* A crash must not leave the terminal raw: restore it, then die as the signal says. */
static void on_crash(int sig)
{
    if (screen_up)
        endwin();
    if (saved_stderr >= 0)
        dup2(saved_stderr, 2);
    static const char msg[] = "qbench: crashed; the terminal was restored\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* nothing left to tell */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

bool tui_signalled(int *sig)
{
    if (!got_signal)
        return false;
    *sig = got_signal;
    got_signal = 0;
    return true;
}

static void on_log(enum qb_log_level level, const char *msg, void *user)
{
    static const char *const tag[QB_LOG_LEVEL_COUNT] = {"debug", "info", "warning", "error"};
    if (level >= QB_LOG_INFO)
        tui_logf(user, "%s: %s", tag[level], msg);
}

void tui_screen_start(struct app *a)
{
    int fds[2];
    const char *no_color = getenv("NO_COLOR");

    /* stderr into the log pane while the screen is up */
    if (pipe(fds) == 0) {
        saved_stderr = dup(2);
        fflush(stderr);
        dup2(fds[1], 2);
        close(fds[1]);
        pipe_rd = fds[0];
        fcntl(pipe_rd, F_SETFL, fcntl(pipe_rd, F_GETFL) | O_NONBLOCK);
        fcntl(pipe_rd, F_SETFD, FD_CLOEXEC);
    }
    qb_log_set(on_log, a);
    signal(SIGINT, on_quit_signal);
    signal(SIGTERM, on_quit_signal);
    signal(SIGHUP, on_quit_signal);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    signal(SIGABRT, on_crash);

    initscr();
    screen_up = true;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    mousemask(ALL_MOUSE_EVENTS, NULL);
    mouseinterval(200);
    a->colors = has_colors() && !(no_color && no_color[0]);
    if (a->colors) {
        start_color();
        use_default_colors();
        for (int r = 1; r < ROLE_COUNT; r++)
            init_pair((short)r, scheme[r].fg, scheme[r].bg);
    }
    getmaxyx(stdscr, a->H, a->W);
}

void tui_screen_stop(void)
{
    if (screen_up) {
        endwin();
        screen_up = false;
    }
    qb_log_set(NULL, NULL);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
    if (pipe_rd >= 0) {
        close(pipe_rd);
        pipe_rd = -1;
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
}

static void log_line(struct app *a, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        return;
    pthread_mutex_lock(&a->log_mu);
    int slot = (a->log_head + a->n_log) % TUI_LOG_LINES;
    if (a->n_log == TUI_LOG_LINES) {
        free(a->log[a->log_head]);
        a->log_head = (a->log_head + 1) % TUI_LOG_LINES;
        slot = (a->log_head + a->n_log - 1) % TUI_LOG_LINES;
    } else {
        a->n_log++;
    }
    a->log[slot] = copy;
    pthread_mutex_unlock(&a->log_mu);
}

void tui_logf(struct app *a, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *p = buf, *nl; *p; p = nl + 1) { /* one entry per line */
        if ((nl = strchr(p, '\n')))
            *nl = 0;
        log_line(a, p);
        if (!nl)
            break;
    }
}

void tui_drain_stderr(struct app *a)
{
    char buf[4096];
    ssize_t n;
    if (pipe_rd < 0)
        return;
    while ((n = read(pipe_rd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n' || c == '\r' || partial_len == sizeof(partial) - 1) {
                partial[partial_len] = 0;
                if (partial_len)
                    log_line(a, partial);
                partial_len = 0;
            } else if (c != '\033') {
                partial[partial_len++] = c;
            }
        }
    }
}

void tui_status(struct app *a, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->status, sizeof(a->status), fmt, ap);
    va_end(ap);
    a->status_err = error;
    if (error)
        tui_logf(a, "error: %s", a->status);
}
