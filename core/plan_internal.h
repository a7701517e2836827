/* Shared by core/plan.c and core/plan_regex.c. */
#ifndef QB_PLAN_INTERNAL_H
#define QB_PLAN_INTERNAL_H

#include <stddef.h>

/* NULL when regcomp can take the extended regular expression re at a bounded cost,
 * else why not (written into buf). */
const char *qb_plan_regex_problem(const char *re, char *buf, size_t len);

#endif
