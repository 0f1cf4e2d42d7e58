#!/usr/bin/env bash
# The report renders in a real browser, offline, with its charts: report.py
# writes a report from the fixture, headless Chromium loads it and dumps the
# DOM it built, which must hold the sections and the inline SVG charts.
#   html_render.sh PYTHON REPORTS_SOURCE_DIR OUT_DIR GNUPLOT
set -euo pipefail
python=$1
src=$2
out=$3
gnuplot=${4:-gnuplot}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium is not installed (scripts/setup.sh installs it)"
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
"$python" "$src/report.py" --raw "$src/tests/data/raw" --out "$out" --gnuplot "$gnuplot"
# No network: the page must not need it.
dom=$(timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$out/profile" --proxy-server=127.0.0.1:9 \
        --dump-dom "file://$(realpath "$out/report.html")" 2>"$out/chromium.err")
printf '%s' "$dom" >"$out/dom.html"
svgs=$(grep -o '<svg' "$out/dom.html" | wc -l)
[ "$svgs" -ge 4 ] || { echo "expected at least 4 charts in the rendered DOM, found $svgs"; exit 1; }
grep -q '<h2 id="crash-propagation-matrix">' "$out/dom.html" || { echo "no crash-propagation section"; exit 1; }
grep -q '<table>' "$out/dom.html" || { echo "no table rendered"; exit 1; }
# A chart that rendered has its plotted paths.
grep -q '<path' "$out/dom.html" || { echo "the charts have no paths"; exit 1; }
echo "ok: $svgs charts rendered"
