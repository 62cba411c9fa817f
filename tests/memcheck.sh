#!/bin/sh
# Runs every example under valgrind memcheck with short settings; fails on
# any memory error or leak. Usage: tests/memcheck.sh BUILD/examples
set -eu
dir=${1:-build/examples}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "memcheck: valgrind is missing (apt-get install -y valgrind)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg="valgrind --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99"
status=0
for ex in "$dir"/*; do
    [ -x "$ex" ] || continue
    name=$(basename "$ex")
    case "$name" in
    chapter_*) args="--iters 20 --quiet --plot $tmp/$name.svg" ;;
    fashion_mnist)
        if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
            echo "memcheck: $name skipped (dataset-fashion-mnist not installed)"
            continue
        fi
        args="--epochs 1 --limit 256 --test-limit 256 --quiet --save $tmp/fm" ;;
    *) args="" ;;
    esac
    if (cd "$tmp" && $vg "$OLDPWD/$ex" $args >"$tmp/out" 2>"$tmp/err"); then
        echo "memcheck: $name clean"
    else
        echo "memcheck: $name FAILED" >&2
        cat "$tmp/err" >&2
        status=1
    fi
done
exit $status
