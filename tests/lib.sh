# Shared by the shell tests (cli_test.sh, eval_test.sh): a scratch folder $tmp
# removed on exit, pass/fail counters, and the two checks they are built from.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, condition...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
expect_exit() { # want, stderr-substring, command...
    local want=$1 needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then echo "  exit $rc, wanted $want: $*"; cat "$tmp/err"; return 1; fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" "$tmp/err"; then
        echo "  stderr lacks '$needle': $*"; cat "$tmp/err"; return 1
    fi
}
