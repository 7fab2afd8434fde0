#!/usr/bin/env bash
# Installs what building and testing edgellm needs, if it is missing.
# usage: scripts/deps.sh [build|test|fuzz|aarch64|all]   (default: test)
# As root it runs apt-get; otherwise it prints one line naming the missing packages and fails.
set -u
what=${1:-test}
pkgs="cmake make gcc pkg-config libmicrohttpd-dev libcjson-dev"
case "$what" in
  build) ;;
  test|all) pkgs="$pkgs nodejs npm python3 unicode-data chromium default-jdk-headless nginx" ;;&
  fuzz|all) pkgs="$pkgs clang libclang-rt-14-dev" ;;&
  aarch64|all) pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" ;;
  test|fuzz) ;;
  *) echo "deps.sh: unknown set '$what' (build, test, fuzz, aarch64, all)" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs/npm may come from outside Debian's packages (as on the development machines).
case "$missing" in *nodejs*|*npm*) command -v node >/dev/null && command -v npm >/dev/null && missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//') ;; esac
[ -z "${missing// /}" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps.sh: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >&2 || { echo "deps.sh: apt-get failed for:$missing" >&2; exit 1; }
else
  echo "edgellm needs these Debian packages: sudo apt-get install$missing" >&2
  exit 1
fi
