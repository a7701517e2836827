#include "../op.h"

const struct qb_op_def qb_ops_shape[] = {
    {.name = NULL},
};
