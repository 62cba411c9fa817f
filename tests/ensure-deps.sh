#!/bin/sh
# Makes sure the test suite's build dependencies (Check, found through
# pkg-config) are present. As root with apt-get it installs them; otherwise
# it prints the command to run and fails.
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists check; then
    exit 0
fi
pkgs="check pkg-config"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make check: installing $pkgs with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null && exit 0
    echo "make check: apt-get could not install $pkgs" >&2
    exit 1
fi
echo "make check: the Check unit-test library is missing. Install it with:" >&2
echo "    sudo apt-get install -y $pkgs" >&2
exit 1
