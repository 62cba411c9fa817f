#!/bin/sh
# Runs every example under valgrind memcheck with short settings; fails on
# any memory error or leak. Each example runs once normally (exit 0) and
# once with its output on a full disk (/dev/full: exit 1 with the cause on
# stderr), so that the error paths are clean too. The Fashion-MNIST
# programs also draw their tape (--graph): as SVG while training (through
# dot when it is installed) and as DOT with --epochs 0 and no dot on PATH.
# Usage: tests/memcheck.sh BUILD/examples
set -eu
dir=$(cd "${1:-build/examples}" && pwd)
if ! command -v valgrind >/dev/null 2>&1; then
    echo "memcheck: valgrind is missing (apt-get install -y valgrind)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg="$(command -v valgrind) --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99"
status=0
run_path=$PATH # the PATH the examples run with

# check NAME WHAT WANT OUT ARGS...: runs example NAME under valgrind with
# stdout on OUT and expects exit status WANT (99 is valgrind's own).
check() {
    name=$1 what=$2 want=$3 out=$4
    shift 4
    rc=0
    (cd "$tmp" && PATH=$run_path $vg "$dir/$name" "$@" >"$out" 2>"$tmp/err") || rc=$?
    if [ "$rc" = "$want" ]; then
        echo "memcheck: $name clean ($what)"
    else
        echo "memcheck: $name FAILED ($what: exit $rc, want $want)" >&2
        cat "$tmp/err" >&2
        status=1
    fi
}

for ex in "$dir"/*; do
    [ -x "$ex" ] || continue
    name=$(basename "$ex")
    case "$name" in
    chapter_*)
        check "$name" run 0 "$tmp/out" --iters 20 --quiet --plot "$tmp/$name.svg"
        check "$name" "stdout full" 1 /dev/full --iters 20 --plot "$tmp/$name.svg" ;;
    fashion_mnist)
        if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
            echo "memcheck: $name skipped (dataset-fashion-mnist not installed)"
            continue
        fi
        set -- --epochs 1 --limit 256 --test-limit 256 --quiet --save "$tmp/fm" \
            --plot "$tmp/fm.svg"
        check "$name" run 0 "$tmp/out" "$@" --graph "$tmp/fm_tape.svg"
        check "$name" "stdout full" 1 /dev/full "$@"
        run_path=/nonexistent
        check "$name" "--graph as DOT, --epochs 0" 0 "$tmp/out" --epochs 0 --limit 64 \
            --test-limit 16 --graph "$tmp/fm_tape.dot"
        run_path=$PATH ;;
    fashion_cnn)
        if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
            echo "memcheck: $name skipped (dataset-fashion-mnist not installed)"
            continue
        fi
        set -- --epochs 1 --limit 16 --test-limit 16 --batch 8 --quiet --save "$tmp/cnn" \
            --plot "$tmp/cnn.svg"
        check "$name" run 0 "$tmp/out" "$@" --graph "$tmp/cnn_tape.svg"
        check "$name" "stdout full" 1 /dev/full "$@"
        run_path=/nonexistent
        check "$name" "--graph as DOT, --epochs 0" 0 "$tmp/out" --epochs 0 --limit 8 \
            --test-limit 8 --batch 8 --graph "$tmp/cnn_tape.dot"
        run_path=$PATH ;;
    logistic)
        set -- --steps 20 --quiet --graph "$tmp/logistic_tape.svg"
        check "$name" run 0 "$tmp/out" "$@"
        check "$name" "stdout full" 1 /dev/full --steps 20 ;;
    toolkit_*)
        check "$name" run 0 "$tmp/out"
        check "$name" "stdout full" 1 /dev/full ;;
    two_moons)
        set -- --epochs 3 --quiet --save "$tmp/moons.safetensors"
        check "$name" run 0 "$tmp/out" "$@"
        check "$name" resume 0 "$tmp/out" --epochs 5 --resume "$tmp/moons.safetensors" \
            --save "$tmp/moons.safetensors"
        check "$name" "bad checkpoint" 1 "$tmp/out" --resume "$dir/$name"
        check "$name" "stdout full" 1 /dev/full --epochs 3 ;;
    words_gpt)
        # A small list and model: valgrind runs the full default for hours.
        for w in able baker candle delta eagle fable gable hotel india joker \
                 kilo lima mango noble oscar papa quebec romeo sierra tango; do
            for s in "" s ed ing er; do echo "$w$s"; done
        done > "$tmp/words.txt"
        printf 'ok\n\377\n' > "$tmp/bad.txt"
        set -- --data "$tmp/words.txt" --layers 1 --heads 2 --embd 8 --context 12 \
            --batch 8 --steps 4 --eval-every 2 --sample 3 --quiet
        check "$name" run 0 "$tmp/out" "$@" --save "$tmp/w.safetensors" \
            --plot "$tmp/w.svg" --graph "$tmp/w_tape.svg"
        check "$name" load 0 "$tmp/out" --data "$tmp/words.txt" --load "$tmp/w.safetensors" \
            --sample 3 --top-k 5 --temperature 0.8
        check "$name" "bad data" 1 "$tmp/out" --data "$tmp/bad.txt"
        check "$name" "stdout full" 1 /dev/full "$@" --save "$tmp/w.safetensors" \
            --plot "$tmp/w.svg" ;;
    *) check "$name" run 0 "$tmp/out" ;;
    esac
done
exit $status
