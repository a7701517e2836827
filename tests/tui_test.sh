#!/usr/bin/env bash
# The workbench driven through tmux like a user (send-keys, capture-pane): open the
# demo, toggle a node, rebuild and see the delta change, sort, filter, save a preset,
# reload it, export, resize to 80x24, cancel a running sweep, quit. Each step asserts
# on the captured screen or on the files written. Also measured and reported (not
# asserted): how long a keystroke takes to change the screen while a sweep runs.
set -u
. "$(dirname "$0")/lib.sh"
bin=${QB_BINARY:?}
src=${QB_SOURCE_DIR:?}
demo=${QB_DEMO_DIR:-}
[ -f "$demo/data.yaml" ] || demo=$src/build/demo # the sanitizer build renders no demo
if ! command -v tmux >/dev/null || [ ! -f "$demo/data.yaml" ]; then
    echo "SKIP: needs tmux and the demo images (build/demo)"; exit 77
fi
sock="qbtui$$"
T() { tmux -L "$sock" "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp" "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/qbtui$$"*' EXIT
S=qb
screen() { T capture-pane -p -t "$S"; }
keys() { T send-keys -t "$S" "$@"; }
# wait_for REGEX [SECONDS]: until the screen matches (extended regex)
wait_for() {
    local re=$1 limit=${2:-60} end
    end=$(( $(date +%s) + limit ))
    while [ "$(date +%s)" -le "$end" ]; do
        screen | grep -Eq -- "$re" && return 0
        sleep 0.05
    done
    echo "  timed out waiting for /$re/; the screen was:"; screen | sed 's/^/  | /'
    return 1
}
has() { screen | grep -Eq -- "$1"; }
sorted_by_name() { # the names in the table's rows are in C order
    local names; names=$(screen | sed -n '8,20p' | awk '{print $2}')
    [ "$(printf '%s\n' "$names" | LC_ALL=C sort)" = "$names" ]
}
max_width() { [ "$(screen | awk '{ if (length > m) m = length } END { print m }')" -le "$1" ]; }
exit_was() { [ "$(cat "$tmp/rc" 2>/dev/null)" = "$1" ]; }
restored() { grep -q ' icanon' "$tmp/stty" && grep -q ' echo ' "$tmp/stty"; }
no_colour() { ! T capture-pane -e -p -t "$S" | grep -Pq '\e\[[0-9;]*(?<![0-9])(3[0-7]|4[0-7])[;m]'; }
is_delta() { [[ "$1" =~ ^[-+][0-9]\.[0-9]{4}$ ]]; }
# the plan row's "vs FP16" delta (the second-to-last number) and the log's build count
plan_vs_fp16() { screen | grep -E '^ plan\*? ' | cut -c57-66 | tr -d ' '; }
# mouse BUTTON COL ROW (1-based): an X10 mouse report, as a terminal sends it
mouse() { keys -l $'\e[M'"$(printf "\\x$(printf %x $((32 + $1)))\\x$(printf %x $((32 + $2)))\\x$(printf %x $((32 + $3)))")"; }
click() { mouse 0 "$1" "$2"; mouse 3 "$1" "$2"; }
selected_line() { screen | grep -nE '^ *>[0-9]+ ' | cut -d: -f1; }
wait_selected() { # LINE: the selection is on that screen line within 5 s (a click is
    local i          # reported once the double-click interval has passed)
    for i in $(seq 1 100); do [ "$(selected_line)" = "$1" ] && return 0; sleep 0.05; done
    echo "  the selection is on line $(selected_line), not $1"; return 1
}
starts=0
start() { # COLS ROWS ARGS...: the workbench in a fresh tmux server (a new socket each
    local cols=$1 rows=$2; shift 2 # time: a server being killed cannot take it down)
    T kill-server 2>/dev/null
    starts=$((starts + 1))
    sock="qbtui$$-$starts"
    T new-session -d -s "$S" -x "$cols" -y "$rows" \
        "cd '$tmp' && env QB_CACHE_DIR='$tmp/cache' $* ; echo \$? > '$tmp/rc'; stty -a > '$tmp/stty'; sleep 600"
}

rm -f "$tmp/rc"
start 100 30 "$bin" tui --model "$src/assets/yolo12n-cones.onnx" --data "$demo/data.yaml" \
    --calib "$src/assets/yolo12n-cones.calib.json" --images-max 4 --threads 2
# 1. open: the header, the baselines and the first build of the all-INT8 plan
check "open: header names the model, executor and calibration" wait_for 'yolo12n-cones\.onnx.*136 quantizable' 60
check "open: calibration in the header" wait_for 'calib entropy, 500 images' 5
check "open: first build of the INT8 plan" wait_for 'build 1: plan [0-9a-f]{12}, 136 INT8' 240
check "open: FP32 row has numbers" has '^ FP32 +0\.[0-9]{4} +0\.[0-9]{4}'
check "open: FP16 row has numbers" has '^ FP16 +0\.[0-9]{4} +0\.[0-9]{4}'
d1=$(plan_vs_fp16)
check "open: the plan's delta against FP16 is a number ($d1)" is_delta "$d1"

# 2. filter, toggle, rebuild: the delta changes
keys /
keys -l 'dfl/co'
check "filter: incremental, one node matches" wait_for '/model\.21/dfl/conv/Conv' 5
keys Enter
check "filter: the count is reported" wait_for '1 of [0-9]+ nodes match' 5
keys Space
check "toggle: the DFL conv goes FP16" wait_for 'dfl/conv/Conv -> fp16' 5
check "toggle: the table shows fp16" wait_for 'dfl/conv/Conv +Conv +[0-9x]+ +fp16' 5
check "toggle: the plan is marked changed" wait_for '^ plan\* ' 5
keys r
check "rebuild: second build" wait_for 'build 2: plan [0-9a-f]{12}, 135 INT8 / ' 120
d2=$(plan_vs_fp16)
check "rebuild: the delta against FP16 changed ($d1 -> $d2)" test "$d1" != "$d2"
check "rebuild: a delta against the previous build" has '^ plan .*[-+][0-9]\.[0-9]{4} +[-+][0-9]\.[0-9]{4} *$'
check "history: two builds plotted" wait_for 'history: mAP50-95 vs cost \(2 builds\)' 5
keys u
check "undo: the node is back to INT8" wait_for 'undone: 1 nodes changed back' 5
keys U
check "redo" wait_for 'redone: 1 nodes changed back' 5
keys t
check "t: every Conv at once" wait_for 'Conv: [0-9]+ nodes -> (fp16|int8) \(r rebuilds\)' 5
keys u m
check "m: the whole module /model.21/" wait_for '/model\.21/: [0-9]+ nodes -> (fp16|int8)' 5
keys u
keys n C-u
keys -l 2
keys Enter
check "n: rebuilds evaluate 2 images" wait_for 'rebuilds evaluate 2 images' 5
keys n C-u Enter
check "n: empty is all" wait_for 'rebuilds evaluate 4 images' 5
keys '?'
check "?: the help lists every key" wait_for 'qbench help' 5
check "?: ... including the exports" has 'export: modelopt, trtexec, json or txt'
check "?: ... and the group toggles" has 't / m +toggle its op type / its module'
keys x
check "any key closes the help" wait_for '^\?Help' 5
keys Escape
check "filter cleared with Esc" wait_for 'filter cleared' 5

# 3. sort
keys '>'
check "sort: by name" wait_for 'sorted by name' 5
check "sort: rows in name order" sorted_by_name
keys '<'
check "sort: back by index" wait_for 'sorted by #' 5

# mouse: a click selects, a double-click toggles, the wheel scrolls
conv_line=$(screen | grep -nE '^ *[0-9]+ .* (Conv|MatMul|Sigmoid|Mul|Add) +[0-9x]+ +(int8|fp16)' | head -1 | cut -d: -f1)
conv_line=${conv_line:-9}
click 20 "$conv_line"
check "mouse: a click selects the row under it (line $conv_line)" wait_selected "$conv_line"
click 20 "$conv_line"; click 20 "$conv_line"
check "mouse: a double-click toggles" wait_for ' -> (fp16|int8) \(r rebuilds\)' 5
keys u
sel=$(screen | grep -E '^ *>[0-9]+ ' | awk '{print substr($1, 2)}')
mouse 65 20 "$conv_line"
check "mouse: the wheel moves the selection down" wait_for "^ *>$((sel + 3)) " 5

# 4. preset: save, change, reload, save again byte-identical
keys p C-u
keys -l "$tmp/s1.json"
keys Enter
check "save: status" wait_for "session saved to .*s1\.json \(2 builds\)" 10
check "save: the file is a qbench preset" grep -q '"format":[[:space:]]*"qbench-preset"' "$tmp/s1.json"
check "save: it lists the DFL conv in FP16" grep -q '/model.21/dfl/conv/Conv' "$tmp/s1.json"
keys /
keys -l 'dfl/conv'
keys Enter Space
check "change before reload" wait_for 'dfl/conv/Conv -> int8' 5
keys l C-u
keys -l "$tmp/s1.json"
keys Enter
check "load: status" wait_for 'loaded .*s1\.json: plan with 135 INT8 nodes, 2 builds' 10
check "load: the DFL conv is FP16 again" wait_for 'dfl/conv/Conv +Conv +[0-9x]+ +fp16' 5
keys p C-u
keys -l "$tmp/s2.json"
keys Enter
check "save again" wait_for "session saved to .*s2\.json" 10
check "preset round trip in the workbench is byte-identical" cmp "$tmp/s1.json" "$tmp/s2.json"
printf '{"format": "qbench-preset", "version": 1, "bogus": 1}\n' > "$tmp/bad.json"
keys l C-u
keys -l "$tmp/bad.json"
keys Enter
check "load: a bad preset names the JSON path and changes nothing" wait_for 'load: .*bad\.json: \$\.bogus' 10
keys Escape Escape

# 5. export, both deployment formats
keys e C-u
keys -l modelopt
keys Enter C-u
keys -l "$tmp/flags.sh"
keys Enter
check "export: modelopt status" wait_for 'exported the plan.s 1 FP16 nodes as modelopt' 10
check "export: modelopt flags name the node" grep -q -- '--nodes_to_exclude' "$tmp/flags.sh"
check "export: modelopt pattern is the anchored node name" grep -q '/model\\\\\?\.21/dfl/conv/Conv\$' "$tmp/flags.sh"
keys e C-u
keys -l trtexec
keys Enter C-u
keys -l "$tmp/trt.sh"
keys Enter
check "export: trtexec layer precision" wait_for 'exported .* as trtexec' 10
check "export: trtexec flag" grep -q -- "--layerPrecisions='/model.21/dfl/conv/Conv:fp16'" "$tmp/trt.sh"
# the same flags as the headless export of the saved preset's plan
"$bin" export --model "$src/assets/yolo12n-cones.onnx" --calib "$src/assets/yolo12n-cones.calib.json" \
    --int8 --fp16-node /model.21/dfl/conv/Conv --format trtexec -o "$tmp/trt-cli.sh" 2>/dev/null
check "export: the workbench's trtexec flags equal qbench export's" cmp "$tmp/trt.sh" "$tmp/trt-cli.sh"

# 6. 80x24
T resize-window -t "$S" -x 80 -y 24
sleep 0.3
keys C-l
check "80x24: key bar on the last line" wait_for '^\?Help SpcToggle' 5
check "80x24: the header fits" has '^ qbench  yolo12n-cones\.onnx'
check "80x24: no line wider than 80" max_width 80
check "80x24: the summary rows" has '^ plan '
keys '?'
check "80x24: the whole help fits" wait_for 'Press any key to close this help' 5
check "80x24: ... its first key line too" has 'Up Down j k PgUp PgDn g G  move'
keys x
T resize-window -t "$S" -x 60 -y 20
check "too small: says so" wait_for 'needs at least 80x24' 5
T resize-window -t "$S" -x 100 -y 30
check "back to 100x30" wait_for '^\?Help' 5

# 7. a sweep: keystrokes stay answered, Esc cancels
keys s
check "sens: running with progress" wait_for 'sensitivity: each node alone INT8 .*Esc cancels' 60
lat=()
for i in $(seq 1 10); do
    before=$(screen | grep -E '^ *>?[0-9]+ ' | head -12 | md5sum)
    t0=$(date +%s%N)
    keys j
    while [ "$(screen | grep -E '^ *>?[0-9]+ ' | head -12 | md5sum)" = "$before" ]; do
        [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 3000 ] && break
    done
    lat+=($(( ($(date +%s%N) - t0) / 1000000 )))
    sleep 0.2
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
echo "keystroke latency during the sweep (ms, send-keys to changed capture, 10 keys): $(echo $sorted | tr '\n' ' ')"
echo "  median $(echo "$sorted" | sed -n 5p) ms, max $(echo "$sorted" | tail -1) ms"
keys Escape
check "sens: Esc cancels" wait_for 'sensitivity cancelled' 60

# 8. quit: asks to save unsaved changes (Ctrl-C too); the terminal is restored
keys /
keys -l 'dfl/conv'
keys Enter Space
check "a change to lose" wait_for ' -> (fp16|int8) \(r rebuilds\)' 5
keys C-c
check "Ctrl-C: asks to save unsaved changes" wait_for 'unsaved changes: save to' 5
keys Escape
check "Esc: stays" wait_for '^\?Help' 5
keys q
check "quit: asks to save unsaved changes" wait_for 'unsaved changes: save to' 5
keys n
for i in $(seq 1 100); do [ -f "$tmp/rc" ] && break; sleep 0.1; done
check "quit: exit status 0" exit_was 0
check "quit: terminal restored (echo, icanon)" restored

# 9. --preset at start: the saved session comes back (plan and history)
rm -f "$tmp/rc"
start 100 30 "$bin" tui --preset "$tmp/s1.json" --threads 2
check "tui --preset: the model from the preset" wait_for 'yolo12n-cones\.onnx.*136 quantizable' 60
check "tui --preset: its two builds" wait_for 'history: mAP50-95 vs cost \(2 builds\)' 120
keys /
keys -l 'dfl/conv'
keys Enter
check "tui --preset: its plan (the DFL conv in FP16)" wait_for 'dfl/conv/Conv +Conv +[0-9x]+ +fp16' 10
keys q
for i in $(seq 1 100); do [ -f "$tmp/rc" ] && break; sleep 0.1; done
check "tui --preset: quits" exit_was 0
printf '{"format": "qbench-preset", "version": 1, "model": {"path": "%s", "sha256": "%064d"}}\n' \
    "$src/assets/yolo12n-cones.onnx" 0 > "$tmp/other.json"
check "tui --preset for another model: exit 2 naming it" expect_exit 2 "another model" "$bin" tui --preset "$tmp/other.json"

# a broken model: the reason in the log pane, keys refused with a message, q exits 1
echo junk > "$tmp/bad.onnx"
rm -f "$tmp/rc"
start 100 30 "$bin" tui --model "$tmp/bad.onnx" --data "$demo/data.yaml" --images-max 4 "2>$tmp/bad.err"
check "broken model: the log says why" wait_for 'error: .*bad\.onnx' 30
keys r
check "broken model: keys say it did not open" wait_for 'the model did not open \(the log says why\); q quits' 5
keys q
for i in $(seq 1 100); do [ -f "$tmp/rc" ] && break; sleep 0.1; done
check "broken model: exit 1" exit_was 1
check "broken model: the reason on stderr after the screen closes" grep -q 'not an ONNX model' "$tmp/bad.err"

# 10. no arguments: the bundled demo; NO_COLOR; SIGTERM restores the terminal
if [ -f "$(dirname "$bin")/demo/data.yaml" ]; then
    rm -f "$tmp/rc"
    start 80 24 NO_COLOR=1 "$bin"
    check "qbench with no arguments opens the demo" wait_for 'qbench  yolo12n-cones\.onnx' 60
    check "NO_COLOR: no colour escapes" no_colour
    pid=$(pgrep -f "^$bin\$" | head -1)
    [ -n "$pid" ] && kill -TERM "$pid"
    for i in $(seq 1 100); do [ -f "$tmp/rc" ] && break; sleep 0.1; done
    check "SIGTERM: exits" test -f "$tmp/rc"
    check "SIGTERM: terminal restored" restored
fi

echo "tui: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
