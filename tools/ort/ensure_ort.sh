# Sourced (POSIX sh): qb_ensure_ort makes sure onnxruntime-node is installed in
# qbench's npm cache, outside the repository, and sets QB_ORT_PREFIX to it.
# On failure it prints "SKIPPED: cannot install onnxruntime-node (why)" and
# returns 1. QB_ORT_VERSION picks the version (default 1.30.0; any version
# already in the cache is used as it is).
qb_ensure_ort() {
    QB_ORT_PREFIX=${QB_ORT_PREFIX:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/qbench/npm}
    _ort_pkg="$QB_ORT_PREFIX/node_modules/onnxruntime-node"
    if ! command -v node >/dev/null 2>&1; then
        echo "SKIPPED: cannot install onnxruntime-node (node is missing)"
        return 1
    fi
    if node -e "require(process.argv[1])" "$_ort_pkg" >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "SKIPPED: cannot install onnxruntime-node (npm is missing)"
        return 1
    fi
    if ! mkdir -p "$QB_ORT_PREFIX" 2>/dev/null; then
        echo "SKIPPED: cannot install onnxruntime-node (cannot create $QB_ORT_PREFIX)"
        return 1
    fi
    echo "installing onnxruntime-node@${QB_ORT_VERSION:-1.30.0} into $QB_ORT_PREFIX"
    if ! (cd "$QB_ORT_PREFIX" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
            --prefix "$QB_ORT_PREFIX" "onnxruntime-node@${QB_ORT_VERSION:-1.30.0}") \
            >"$QB_ORT_PREFIX/install.log" 2>&1; then
        _ort_why=$(grep -m 2 -i 'err' "$QB_ORT_PREFIX/install.log" | tr '\n' ' ')
        echo "SKIPPED: cannot install onnxruntime-node (npm install failed: ${_ort_why:-see $QB_ORT_PREFIX/install.log})"
        return 1
    fi
    if ! node -e "require(process.argv[1])" "$_ort_pkg" >"$QB_ORT_PREFIX/load.log" 2>&1; then
        echo "SKIPPED: cannot install onnxruntime-node (installed but does not load: $(head -n 1 "$QB_ORT_PREFIX/load.log"))"
        return 1
    fi
    return 0
}
