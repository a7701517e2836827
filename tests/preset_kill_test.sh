# Presets are saved atomically: a process killed with SIGKILL at any moment of a save
# leaves the preset file byte-identical to one of the two complete versions it was
# writing in turn (A, about 5 MB, and B), so loadable (both are loaded once, and the
# file after the last kill). A kill that landed mid-write leaves a PATH.tmp.* file
# behind, which is counted and removed.
#     QB_TEST_PRESET=build/tests/test_preset bash tests/preset_kill_test.sh
set -u
src=${QB_SOURCE_DIR:-.}
bin=${QB_TEST_PRESET:-$src/build/tests/test_preset}
kills=${QB_KILLS:-25}
. "$src/tests/lib.sh"
p=$tmp/session.json

"$bin" --write-a "$tmp/a.json" >/dev/null && "$bin" --write-b "$tmp/b.json" >/dev/null && cp "$tmp/b.json" "$p" ||
    { echo "FAIL: cannot write the two versions"; exit 1; }
check "version A loads" "$bin" --check "$tmp/a.json"
check "version B loads" "$bin" --check "$tmp/b.json"
n_a=0 n_b=0 mid=0
for i in $(seq 1 "$kills"); do
    : >"$tmp/loop.out"
    "$bin" --save-loop "$p" >"$tmp/loop.out" &
    pid=$!
    for _ in $(seq 1 1000); do [ -s "$tmp/loop.out" ] && break; sleep 0.01; done # the presets are built
    # 0.01 .. 0.2 s, spread over the runs so the kill lands at varying points of a save
    sleep "$(awk -v i="$i" -v n="$kills" 'BEGIN { printf "%.3f", 0.01 + 0.19 * ((i * 7) % n) / (n - 1) }')"
    kill -KILL "$pid"
    { wait "$pid"; } 2>/dev/null
    if cmp -s "$p" "$tmp/a.json"; then
        n_a=$((n_a + 1))
    elif cmp -s "$p" "$tmp/b.json"; then
        n_b=$((n_b + 1))
    else
        check "kill $i: the preset is one of the two complete versions" false
    fi
    left=$(find "$tmp" -maxdepth 1 -name 'session.json.tmp.*' | wc -l)
    if [ "$left" -gt 0 ]; then
        mid=$((mid + 1))
        rm -f "$tmp"/session.json.tmp.*
    fi
done
check "the preset loads after the last kill" "$bin" --check "$p"
check "every kill left a complete version ($n_a A + $n_b B of $kills)" [ $((n_a + n_b)) -eq "$kills" ]
echo "preset_kill_test: $kills kills, $mid mid-write (a temporary file left behind), the file then A $n_a times," \
    "B $n_b times; $pass passed, $fail failed"
[ "$fail" -eq 0 ]
