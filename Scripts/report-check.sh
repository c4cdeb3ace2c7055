#!/usr/bin/env bash
# Renders scenario reports in a real browser (headless Chromium) and checks what it drew: each report is
# screenshotted to a PNG of the expected size that is not blank (far richer than an empty page rendered the same
# way), and the rendered DOM holds the report's charts. Usage: report-check.sh [streamlearn binary] [output dir]
set -euo pipefail
bin=$(cd "$(dirname "${1:-.build/release/streamlearn}")" && pwd)/$(basename "${1:-.build/release/streamlearn}")
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)  # Chromium resolves a relative --screenshot path elsewhere
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "report-check: chromium is not installed (apt-get install chromium)" >&2; exit 2; }

render() {  # html png dom
    "$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1800 \
        --screenshot="$2" "file://$1" >/dev/null 2>&1
    "$browser" --headless=new --no-sandbox --disable-gpu --dump-dom "file://$1" 2>/dev/null >"$3"
}
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }

printf '<!DOCTYPE html><html><body></body></html>' >"$out/blank.html"
render "$out/blank.html" "$out/blank.png" "$out/blank.dom"
blank=$(stat -c %s "$out/blank.png")

check() {  # scenario, then the chart ids its report must hold
    local scenario=$1; shift
    "$bin" scenario run "$repo/Scenarios/$scenario.yaml" --quiet --report "$out/$scenario.html" >"$out/$scenario.txt"
    render "$out/$scenario.html" "$out/$scenario.png" "$out/$scenario.dom"
    local size bytes
    size=$(png_size "$out/$scenario.png")
    bytes=$(stat -c %s "$out/$scenario.png")
    [ "$size" = "1000x1800" ] || { echo "report-check: $scenario.png is $size, expected 1000x1800" >&2; exit 1; }
    [ "$bytes" -gt $((blank * 5)) ] || { echo "report-check: $scenario.png looks blank ($bytes bytes; an empty page: $blank)" >&2; exit 1; }
    for id in "$@"; do
        grep -q "<svg id=\"$id" "$out/$scenario.dom" || { echo "report-check: $scenario: no chart '$id' in the rendered page" >&2; exit 1; }
    done
    local charts
    charts=$(grep -o '<svg id="' "$out/$scenario.dom" | wc -l)
    echo "report-check: $scenario: ${size} PNG, $bytes bytes (an empty page: $blank), $charts charts rendered"
}

check fraud-drift quality- psi- scores-
check bandit-ads regret arms-
check frozenlake-qlearning returns greedy
echo "report-check: the reports and their PNGs are in $out"
