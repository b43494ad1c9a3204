#!/usr/bin/env bash
# Debian's chromium, which the report's test opens report.html in (headless): installed where
# missing, so CI never skips that test. Installing needs root (or sudo without a password);
# otherwise this fails saying so rather than leaving the test to skip.
set -euo pipefail

command -v chromium >/dev/null && exit 0
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium is missing and installing it needs root: apt-get install -y chromium (Debian's package)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q chromium
command -v chromium >/dev/null || { echo "apt-get installed no chromium command" >&2; exit 1; }
