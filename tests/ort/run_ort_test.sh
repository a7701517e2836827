#!/bin/sh
# CTest entry for the onnxruntime comparison (tests/ort/ort_test.js).
# onnxruntime-node (its CPU build ships inside the npm package; nothing is
# downloaded at run time) is installed once into qbench's npm cache, outside the
# repository. Without node, npm or the package: exit 77, which CTest reports as
# skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${QB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$src/tools/ort/ensure_ort.sh"
qb_ensure_ort || exit 77
export QB_ORT_PREFIX QB_SOURCE_DIR="$src"
exec node "$here/ort_test.js" "$@"
