#!/bin/sh
# install.sh - `make install` into a temporary prefix, then what a user does
# with it: build the README's program through pkg-config, linked to the
# shared library and (--static) to the archive, and run both; then
# `make uninstall` must leave nothing of ours. A staged install (DESTDIR) is
# checked too. Run by `make check` (target check-install); MAKE, CC and
# TG_LINK_FLAGS (a sanitizer build's -fsanitize=...) come from there.
set -eu
MAKE=${MAKE:-make}
CC=${CC:-cc}
TG_LINK_FLAGS=${TG_LINK_FLAGS:-}
WANT='array([-5.25657241])' # what the program prints (tests/test_examples.c)

tmp=$(mktemp -d /tmp/tg_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/log

fail() {
    echo "check-install: FAIL: $*" >&2
    if [ -s "$log" ]; then
        echo "--- last output:" >&2
        tail -30 "$log" >&2
    fi
    exit 1
}
step() { # step CMD...: runs CMD with its output in $log
    "$@" >"$log" 2>&1 || fail "exit status $?: $*"
}
for tool in pkg-config readelf; do
    command -v $tool >/dev/null 2>&1 || fail "$tool is missing (apt-get install pkg-config binutils)"
done

# A stand-in for ldconfig that records its calls: the suite must not touch
# the machine's linker cache, but it checks when install would run it.
printf '#!/bin/sh\necho ldconfig >>"%s/ldconfig.calls"\n' "$tmp" >"$tmp/ldconfig"
chmod +x "$tmp/ldconfig"
calls() { [ -f "$tmp/ldconfig.calls" ] && wc -l <"$tmp/ldconfig.calls" || echo 0; }
if [ "$(id -u)" = 0 ]; then per_run=1; else per_run=0; fi

# ---- install ----
step "$MAKE" --no-print-directory install PREFIX="$prefix" DESTDIR= LDCONFIG="$tmp/ldconfig"
[ "$(calls)" -eq "$per_run" ] || fail "install ran ldconfig $(calls) times, want $per_run"
lib=$prefix/lib
export PKG_CONFIG_PATH="$lib/pkgconfig"
version=$(pkg-config --modversion tapegrad) || fail "pkg-config does not find tapegrad.pc"
major=${version%%.*}
[ -f "$lib/libtapegrad.so.$version" ] && [ ! -L "$lib/libtapegrad.so.$version" ] ||
    fail "no file $lib/libtapegrad.so.$version"
for link in "libtapegrad.so.$major" libtapegrad.so; do
    [ "$(readlink "$lib/$link")" = "libtapegrad.so.$version" ] ||
        fail "$lib/$link is not a symlink to libtapegrad.so.$version"
done
[ -f "$lib/libtapegrad.a" ] || fail "no $lib/libtapegrad.a"
[ -f "$prefix/include/tapegrad/tapegrad.h" ] || fail "no tapegrad.h"
[ ! -e "$prefix/include/tapegrad/tensor/internal.h" ] || fail "a private header was installed"
readelf -d "$lib/libtapegrad.so.$version" | grep -q "(SONAME).*\[libtapegrad\.so\.$major\]" ||
    fail "the SONAME of libtapegrad.so.$version is not libtapegrad.so.$major"

# The README's program, copied out so that only the installed headers are seen.
cp examples/readme.c "$tmp/demo.c"
# Links start --no-as-needed, the linker's own default, which some compilers
# (Debian's gcc without -fsanitize) replace by --as-needed: the result must
# not depend on that.
strict=-Wl,--no-as-needed

# ---- shared: needs libtapegrad.so.MAJOR, found through LD_LIBRARY_PATH
# only because this prefix is not one the dynamic linker searches ----
# shellcheck disable=SC2046  # pkg-config's output is meant to be split
step "$CC" -o "$tmp/demo_shared" "$tmp/demo.c" $strict $(pkg-config --cflags --libs tapegrad) \
    $TG_LINK_FLAGS
readelf -d "$tmp/demo_shared" | grep -q "(NEEDED).*\[libtapegrad\.so\.$major\]" ||
    fail "the program built with pkg-config --libs does not need libtapegrad.so.$major"
LD_LIBRARY_PATH=$lib ldd "$tmp/demo_shared" | grep -q "libtapegrad\.so\.$major => $lib/" ||
    fail "libtapegrad.so.$major is not loaded from $lib"
out=$(LD_LIBRARY_PATH=$lib "$tmp/demo_shared") || fail "the shared-linked program failed"
[ "$out" = "$WANT" ] || fail "the shared-linked program printed '$out', want '$WANT'"

# ---- static: the archive is linked in, no libtapegrad.so is needed ----
# shellcheck disable=SC2046
step "$CC" -o "$tmp/demo_static" "$tmp/demo.c" $strict \
    $(pkg-config --static --cflags --libs tapegrad) $TG_LINK_FLAGS
if readelf -d "$tmp/demo_static" | grep -q '(NEEDED).*libtapegrad'; then
    fail "the program built with pkg-config --static needs libtapegrad.so"
fi

# ---- uninstall: no file, link or folder of ours is left ----
step "$MAKE" --no-print-directory uninstall PREFIX="$prefix" DESTDIR= LDCONFIG="$tmp/ldconfig"
[ "$(calls)" -eq $((2 * per_run)) ] || fail "uninstall did not run ldconfig as install did"
left=$(find "$prefix" ! -type d -o -name '*tapegrad*')
[ -z "$left" ] || fail "uninstall left: $left"
# The static program runs with the library gone.
out=$(env -u LD_LIBRARY_PATH "$tmp/demo_static") || fail "the static-linked program failed"
[ "$out" = "$WANT" ] || fail "the static-linked program printed '$out', want '$WANT'"

# ---- staged (DESTDIR): files under the stage, final paths in the .pc,
# no ldconfig ----
stage=$tmp/stage
step "$MAKE" --no-print-directory install PREFIX=/usr/local DESTDIR="$stage" LDCONFIG="$tmp/ldconfig"
[ -f "$stage/usr/local/lib/libtapegrad.so.$version" ] || fail "DESTDIR install: no library"
grep -qx 'prefix=/usr/local' "$stage/usr/local/lib/pkgconfig/tapegrad.pc" ||
    fail "DESTDIR install: tapegrad.pc does not say prefix=/usr/local"
step "$MAKE" --no-print-directory uninstall PREFIX=/usr/local DESTDIR="$stage" LDCONFIG="$tmp/ldconfig"
[ "$(calls)" -eq $((2 * per_run)) ] || fail "a DESTDIR install or uninstall ran ldconfig"
left=$(find "$stage" ! -type d -o -name '*tapegrad*')
[ -z "$left" ] || fail "DESTDIR uninstall left: $left"

echo "check-install: ok (libtapegrad.so.$version, SONAME libtapegrad.so.$major; pkg-config" \
    "shared and --static builds ran; uninstall left nothing)"
