#include <stdio.h>

#include "core/status.h"

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qbench: %s\n", qb_status_str(QB_OK));
    return 0;
}
