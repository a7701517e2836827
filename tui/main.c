/* qbench: the command-line front end. With no arguments it opens the TUI on the
 * bundled demo; subcommands do the same work headless. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *synopsis;
};

static const struct command commands[] = {
#ifndef QB_NO_TUI
    {"tui", qb_cmd_tui, "tui   [--model M] [--data D.yaml [--split S] | --images DIR | --pack P] [--images-max N] [--calib C] [--op-set SET] [--preset P] [--threads N]   the interactive workbench (no arguments: on the bundled demo)"},
#endif
    {"info", qb_cmd_info, "info  (MODEL | --preset S) [--json] [--shape NAME=D,D,...]   inputs, outputs, ops, parameters, FLOPs, quantizable nodes, metadata"},
    {"run", qb_cmd_run, "run   (MODEL | --preset S) --input X.npy|IMAGE... --output Y.npy [--save-input X.npy] [--threads N] [--device cpu] [--fp16 | --int8 --calib C | --plan P]   FP32 reference, or a plan simulated on the CPU"},
    {"bench", qb_cmd_bench, "bench (MODEL | --preset S) [--runs N] [--warmup N] [--threads N] [--device cpu] [--json OUT] [--fp16 | --int8 --calib C | --plan P]   latency and throughput (FP32, or a plan simulated on the CPU)"},
    {"eval", qb_cmd_eval, "eval  (MODEL | --preset S) (--data D.yaml|DIR|LIST [--split val] | --pack P.qbpack) [--images N] [--letterbox predict|val] [--json OUT] [--save-detections OUT] [--fp16 | --int8 --calib C | --plan P] [--no-baselines]   mAP as `yolo val` reports it, of FP32 or of a plan beside its FP32 and FP16 baselines"},
    {"calib", qb_cmd_calib, "calib (MODEL | --preset S) (--images DIR|LIST | --data D.yaml [--split S] | --video V... [--every N] [--max M]) [--images-max N] [--method max|percentile|entropy|mse] [--percentile P] [--eval-data D.yaml [--eval-split val]] [--allow-overlap] [--no-cache] --out C.json [--trt-cache OUT] [--json]   amax per activation (calibration table)"},
    {"pack", qb_cmd_pack, "pack  (MODEL | --preset S) (--data D.yaml|DIR|LIST [--split val] | --video V... [--every N] [--max M]) [--images N] [--letterbox predict|val] [--compress none|deflate] --out P.qbpack   the model inputs, labels and letterbox of a dataset in one file, for eval --pack"},
    {"sens", qb_cmd_sens, "sens  (MODEL | --preset S) (--data D.yaml [--split S] | --images DIR | --pack P) --calib C [--mode int8-alone|fp16-alone|local] [--metric sqnr|map|fidelity] [--by node|op|module|module-op] [--images-max N] [--json OUT]   per-layer sensitivity, ranked: what each node costs in mAP when INT8, against what it saves"},
    {"search", qb_cmd_search, "search (MODEL | --preset S) (--data D.yaml [--split S] | --pack P) --calib C --budget POINTS [--budget-metric map50-95|map50] [--out-plan P.json] [--json OUT]   the fastest plan (by bit-operations) within POINTS of all-FP16's mAP"},
    {"export", qb_cmd_export, "export (--preset S | --model M (--int8 | --fp16 | --plan P)) [--calib C] [rules] --format modelopt|trtexec|json|txt|trt-calib-cache [-o OUT]   the plan's FP16 nodes as the flags ModelOpt or trtexec take, or as JSON or text"},
    {"demo-data", qb_cmd_demo_data, "demo-data --out DIR [--count N] [--seed S] [--size WxH] [--format images|raw] [--image-format jpg|png] [--splits train,val,calib] [--threads T]   synthetic stereo cone scenes (Ultralytics layout or raw tensors)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: qbench COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  qbench %s\n", commands[i].synopsis);
    fprintf(f, "\n--preset S: a session preset (saved by the workbench) gives the model and what the options leave "
               "out; options given win.\nExit status: 0 success, 1 failed run, 2 bad usage or input.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
#ifndef QB_NO_TUI
        char *tui[] = {"tui", NULL};
        return qb_cmd_tui(1, tui);
#else
        usage(stderr);
        return QB_EXIT_USAGE;
#endif
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return QB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("qbench 0.1.0\n");
        return QB_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qbench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return QB_EXIT_USAGE;
}
