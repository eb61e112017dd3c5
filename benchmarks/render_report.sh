#!/usr/bin/env bash
# Render a gaunet report (report.html) to a PNG with headless Chromium, to look at it as a
# reader would. Offline: every network feature of the browser is switched off, and the report
# needs none (its images are inlined).
#   benchmarks/render_report.sh DIR/report.html OUT.png [WIDTH] [HEIGHT]
# Needs Debian's chromium (apt-get install -y chromium) or Google Chrome on PATH.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH=1280] [HEIGHT=4000]" >&2
  exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1280}
height=${4:-4000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "$0: no chromium found; install it with: apt-get install -y chromium" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --screenshot="$out" \
  --window-size="$width,$height" "file://$report" >/dev/null 2>&1
test -s "$out" || { echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$out"
