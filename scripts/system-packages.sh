#!/usr/bin/env bash
# System packages some tests use beyond the Python environment: Debian's chromium, for the
# scorecard's headless-browser check.  Installed when missing and this is a root shell with apt;
# otherwise (or if the install fails) that one test is skipped with its reason, nothing else.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: chromium missing (needs root and apt-get); the scorecard's browser test will be skipped" >&2
  exit 0
fi
start=$(date +%s)
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/jscc-chromium-install.log 2>&1 \
   || { apt-get update -q >/dev/null 2>&1 && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/jscc-chromium-install.log 2>&1; }; then
  echo "system-packages: chromium installed in $(( $(date +%s) - start )) s"
else
  echo "system-packages: installing chromium failed (see /tmp/jscc-chromium-install.log); the scorecard's browser test will be skipped" >&2
fi
exit 0
