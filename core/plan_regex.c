/* Plan rules' regular expressions: refusing those glibc's regcomp would spend
 * gigabytes or minutes on (found by fuzzing the preset loader). */
#include <stdio.h>
#include <string.h>

#include "plan_internal.h"

/* Regular expressions that would exhaust memory or time ---------------------------- */

/* glibc's regcomp copies the operand of '+' (a+ is aa*) and of {n,m} (m copies), and
 * its epsilon closures grow with repetitions of repetitions, so stacked or nested
 * repetitions cost exponentially: "re:a++++++++++++++++++++++++++++++" takes gigabytes,
 * "re:a*****************++++++++++" minutes. A file's rules are sized before they
 * reach regcomp: repetitions may nest REGEX_MAX_REPEATS deep ("((cv[0-9]+)+)?" is 3)
 * and the expanded expression may have about REGEX_MAX_NODES nodes. */
#define REGEX_MAX_NODES 20000.0
#define REGEX_MAX_REPEATS 4
#define REGEX_MAX_DEPTH 64

/* c at '[': the ']' that closes the bracket expression, or the NUL */
static const char *bracket_end(const char *c)
{
    const char *p = c + 1;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
            const char *e = p + 2;
            while (*e && !(e[0] == p[1] && e[1] == ']'))
                e++;
            p = *e ? e + 2 : e;
        } else {
            p++;
        }
    }
    return p;
}

/* c at '{': the copies a bound {n}, {n,} or {n,m} makes, with *end at its '}'; 0 when
 * it is no bound */
static double bound_copies(const char *c, const char **end)
{
    double n = 0, m;
    if (*++c < '0' || *c > '9')
        return 0;
    for (; *c >= '0' && *c <= '9'; c++)
        n = 10 * n + (*c - '0');
    m = n;
    if (*c == ',') {
        m = n + 1;
        if (c[1] >= '0' && c[1] <= '9')
            for (m = 0, c++; *c >= '0' && *c <= '9'; c++)
                m = 10 * m + (*c - '0');
        else
            c++;
    }
    if (*c != '}')
        return 0;
    *end = c;
    return m > n ? m : n > 1 ? n : 1;
}

/* NULL when regcomp can take the extended regular expression re, else why not */
const char *qb_plan_regex_problem(const char *re, char *buf, size_t len)
{
    /* per open group: nodes so far, nodes of the last atom, and the repetition depths */
    double sum[REGEX_MAX_DEPTH] = {0}, last[REGEX_MAX_DEPTH] = {0}, total = 0;
    int reps[REGEX_MAX_DEPTH] = {0}, last_reps[REGEX_MAX_DEPTH] = {0}, depth = 0;

    for (const char *c = re; *c; c++) {
        double atom = 1, copies = -1; /* copies >= 0: a repetition of the last atom */
        int atom_reps = 0;
        const char *end;
        switch (*c) {
        case '\\':
            c += c[1] != '\0';
            break;
        case '[':
            c = bracket_end(c);
            if (!*c)
                c--;
            break;
        case '(':
            if (++depth == REGEX_MAX_DEPTH)
                return "groups nested too deeply";
            sum[depth] = last[depth] = 0;
            reps[depth] = last_reps[depth] = 0;
            continue;
        case ')':
            if (depth > 0) {
                atom = sum[depth] + 1;
                atom_reps = reps[depth--];
            }
            break;
        case '|':
            last[depth] = 0;
            last_reps[depth] = 0;
            continue;
        case '*':
        case '?':
            copies = 1;
            break;
        case '+':
            copies = 2;
            break;
        case '{':
            if ((copies = bound_copies(c, &end)) > 0)
                c = end;
            else
                copies = -1;
            break;
        default:
            break;
        }
        if (copies >= 0) {
            sum[depth] += last[depth] * (copies - 1) + 1;
            last[depth] = last[depth] * copies + 1;
            if (++last_reps[depth] > REGEX_MAX_REPEATS) {
                snprintf(buf, len, "repetitions of repetitions nested more than %d deep", REGEX_MAX_REPEATS);
                return buf;
            }
            if (last_reps[depth] > reps[depth])
                reps[depth] = last_reps[depth];
        } else {
            sum[depth] += atom;
            last[depth] = atom;
            last_reps[depth] = atom_reps;
            if (atom_reps > reps[depth])
                reps[depth] = atom_reps;
        }
        if (sum[depth] > REGEX_MAX_NODES)
            break;
    }
    for (int d = 0; d <= depth; d++)
        total += sum[d];
    if (total <= REGEX_MAX_NODES)
        return NULL;
    snprintf(buf, len, "over %.0f nodes once its repetitions are expanded", REGEX_MAX_NODES);
    return buf;
}
