#!/usr/bin/env bash
# Debian's Chromium and its chromedriver: the listening study's browser test drives them (selenium).
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  exit 0
fi
echo "note: chromium / chromedriver missing and this is not root: the browser test will be skipped." >&2
echo "      To run it: sudo apt-get install -y chromium chromium-driver" >&2
exit 0
