#!/usr/bin/env bash
# The main job on the embedded broker. Until the streaming runtime lands: start a broker, produce 10,000 labelled
# events (a known logistic model), consume them back with a consumer group, check every event came back exactly
# once, then learn from the consumed stream with progressive validation and print the figures.
set -euo pipefail
bin=${1:-.build/release/streamlearn}
work=$(mktemp -d)
"$bin" broker --topic demo-events:8 --bootstrap-file "$work/bootstrap" >"$work/broker.out" 2>"$work/broker.err" &
broker=$!
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap=//p' "$work/broker.out" | head -n 1)
[ -n "$bootstrap" ] || { echo "the embedded broker did not start" >&2; cat "$work/broker.err" >&2; exit 1; }
echo "embedded broker:  $bootstrap"

"$bin" generate logistic --events 10000 --seed 7 "$work/events.jsonl"
"$bin" produce --brokers "$bootstrap" --topic demo-events --key-field id "$work/events.jsonl" 2>"$work/produce.err" \
    || { cat "$work/produce.err" >&2; exit 1; }
"$bin" consume --brokers "$bootstrap" --topic demo-events --group demo --from-beginning --max 10000 \
    >"$work/consumed.jsonl" 2>"$work/consume.err" || { cat "$work/consume.err" >&2; exit 1; }

generated=$(wc -l <"$work/events.jsonl")
consumed=$(wc -l <"$work/consumed.jsonl")
echo "generated:        $generated events"
echo "$(cat "$work/produce.err")"
echo "consumed:         $consumed events"
if cmp -s <(sort "$work/events.jsonl") <(sort "$work/consumed.jsonl"); then
    echo "result:           every event came back exactly once"
else
    echo "result:           MISMATCH between produced and consumed events" >&2
    exit 1
fi
"$bin" learn --optimizer ftrl "$work/consumed.jsonl" | sed 's/^/learn:            /'
