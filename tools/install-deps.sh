#!/usr/bin/env bash
# Installs the Debian 12 packages qbench builds and tests with (run as root).
# Why each one:
#   cmake pkg-config build-essential   the build
#   clang                              libFuzzer target for the ONNX loader (tests/fuzz)
#   libprotobuf-c-dev protobuf-c-compiler libonnx-dev
#                                      ONNX loading: onnx.proto (from libonnx-dev) compiled by protoc-c
#   libonnx-testdata                   the ONNX conformance suite the tests run
#   libopencv-dev                      image decoding and letterbox (behind core/image.h)
#   libcjson-dev                       --json output, session presets
#   libncurses-dev                     the interactive workbench (tui/)
#   tmux                               the workbench's tests drive the real binary in a tmux pane
#   libmd-dev                          sha256 of models
#   libyaml-dev                        Ultralytics data.yaml (core/dataset.c)
#   zlib1g-dev                         packed datasets: CRC-32 and deflated pixels (core/pack.c)
#   python3-numpy                      tools/eval_ref.py, the independent mAP implementation the eval test checks against
#   nodejs npm                         the onnxruntime-node oracle in the tests (skipped if npm exists)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(cmake pkg-config build-essential clang
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
      libopencv-dev libcjson-dev libncurses-dev tmux libmd-dev libyaml-dev zlib1g-dev python3-numpy)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
apt-get update -q
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
