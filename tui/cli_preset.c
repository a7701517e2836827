/* --preset P on the headless commands (tui/cli_preset.h). */
#include <stdio.h>
#include <string.h>

#include "cli_preset.h"
#include "core/calib.h"

/* Where each rule kind sits in a preset file, for messages. */
static const char *const rule_keys[QB_PLAN_RULE_COUNT] = {
    [QB_PLAN_FP16_OP] = "fp16_op_types",
    [QB_PLAN_FP16_NODE] = "fp16_nodes",
    [QB_PLAN_INT8_NODE] = "int8_nodes",
};

int qb_cli_preset_opt(int argc, char **argv, int *i, struct qb_cli_preset *cp)
{
    if (strcmp(argv[*i], "--preset") != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "qbench: --preset needs a value\n");
        return -1;
    }
    if (cp->path) {
        fprintf(stderr, "qbench: give --preset once\n");
        return -1;
    }
    cp->path = argv[++*i];
    return 1;
}

/* The model file against the preset's record. given: MODEL came from the command line. */
static enum qb_status check_model(struct qb_cli_preset *cp, bool given, struct qb_error *err)
{
    struct qb_error sub = {0};
    enum qb_status st;

    if ((st = qb_calib_file_sha256(cp->model, cp->model_sha256, &sub)) != QB_OK)
        return given ? qb_errorf(err, st, "%s", sub.msg)
                     : qb_errorf(err, st, "the model of preset %s: %s", cp->path, sub.msg);
    if ((st = qb_preset_check_model(&cp->p, cp->model_sha256, &sub)) == QB_OK)
        return QB_OK;
    if (given)
        return qb_errorf(err, st, "preset %s: %s: %s", cp->path, cp->model, sub.msg);
    return qb_errorf(err, st, "preset %s: its model %s has changed since it was saved: %s", cp->path, cp->model,
                     sub.msg);
}

enum qb_status qb_cli_preset_load(struct qb_cli_preset *cp, const char *cmd, const char **model)
{
    struct qb_error err = {0};
    enum qb_status st;

    if (!cp->path)
        return QB_OK;
    cp->held = true;
    if ((st = qb_preset_load(cp->path, &cp->p, &err)) != QB_OK)
        goto out;
    if (!*model && !cp->p.model) {
        st = qb_errorf(&err, QB_ERR_INVALID, "preset %s names no model: give MODEL", cp->path);
        goto out;
    }
    cp->model = *model ? *model : cp->p.model;
    if ((st = check_model(cp, *model != NULL, &err)) != QB_OK)
        goto out;
    *model = cp->model;
    cp->loaded = true;
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench %s: %s\n", cmd, err.msg[0] ? err.msg : qb_status_str(st));
    return st;
}

const struct qb_preset *qb_cli_preset_get(const struct qb_cli_preset *cp)
{
    return cp->loaded ? &cp->p : NULL;
}

void qb_cli_preset_free(struct qb_cli_preset *cp)
{
    if (cp->held)
        qb_preset_free(&cp->p);
    cp->held = cp->loaded = false;
}

void qb_cli_preset_str(const char **dst, const char *src)
{
    if (!*dst)
        *dst = src;
}

void qb_cli_preset_source(const struct qb_cli_preset *cp, struct qb_cli_source *s)
{
    const struct qb_preset_source *ps;

    if (!cp->loaded || s->data || s->images || s->pack)
        return;
    ps = &cp->p.source;
    s->data = ps->data;
    s->images = ps->images;
    s->pack = ps->pack;
    if (!s->split && ps->data)
        s->split = ps->split;
    if (!s->max && ps->images_max > 0)
        s->max = (size_t)ps->images_max;
}

static int fail(const struct qb_error *err)
{
    fprintf(stderr, "qbench: %s\n", err->msg);
    return -1;
}

int qb_cli_preset_plan(const struct qb_cli_preset *cp, struct qb_plan_spec *s)
{
    const struct qb_plan_spec *ps = &cp->p.plan;
    struct qb_plan_spec t;
    struct qb_error err = {0};
    char origin[4200];
    int n[QB_PLAN_RULE_COUNT] = {0}, r = 0;

    if (!cp->loaded || s->base_given || s->path)
        return 0;
    qb_plan_spec_init(&t, ps->base);
    t.base_given = true;
    snprintf(origin, sizeof(origin), "%s: $.plan.op_set", cp->path);
    if (s->op_set_given) {
        if (qb_plan_spec_set_op_set(&t, s->op_set, s->op_set_origin, &err) != QB_OK)
            goto fail;
        t.op_set_given = true;
    } else if (ps->op_set && qb_plan_spec_set_op_set(&t, ps->op_set, origin, &err) != QB_OK) {
        goto fail;
    }
    for (int k = 0; k < ps->n_rules; k++) {
        const struct qb_plan_rule *rule = &ps->rules[k];
        snprintf(origin, sizeof(origin), "%s: $.plan.%s[%d]", cp->path, rule_keys[rule->kind], n[rule->kind]++);
        if (qb_plan_spec_add(&t, rule->kind, rule->pattern, rule->origin ? rule->origin : origin, &err) != QB_OK)
            goto fail;
    }
    for (int k = 0; k < s->n_rules; k++)
        if (qb_plan_spec_add(&t, s->rules[k].kind, s->rules[k].pattern, s->rules[k].origin, &err) != QB_OK)
            goto fail;
    qb_plan_spec_free(s);
    *s = t;
    return 0;
fail:
    r = fail(&err);
    qb_plan_spec_free(&t);
    return r;
}
