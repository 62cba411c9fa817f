#!/bin/sh
# Makes sure the test suite's dependencies are present: Check (found
# through pkg-config) and Debian's word list (wamerican), which the
# words_gpt tests train on. As root with apt-get it installs what is
# missing; otherwise it prints the command to run and fails.
pkgs=""
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists check; then
    pkgs="check pkg-config"
fi
if [ ! -r /usr/share/dict/american-english ]; then
    pkgs="$pkgs wamerican"
fi
if [ -z "$pkgs" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make check: installing ${pkgs# } with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq ${pkgs# } >/dev/null && exit 0
    echo "make check: apt-get could not install ${pkgs# }" >&2
    exit 1
fi
echo "make check: missing ${pkgs# } (the Check unit-test library, Debian's word list)." >&2
echo "Install with:" >&2
echo "    sudo apt-get install -y ${pkgs# }" >&2
exit 1
