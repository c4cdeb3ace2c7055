#!/usr/bin/env bash
# The main job on the embedded broker. Until the streaming runtime lands: start a broker, produce 10,000 labelled
# events (a known logistic model), consume them back with a consumer group, check every event came back exactly
# once, then learn from the consumed stream with progressive validation and print the figures. Then the ops
# feed: a fraud stream whose inputs drift at event 5,000 (10,000 events: the embedded broker keeps about 5 MiB a
# partition) goes through Kafka, the PSI detectors watch it, and the alerts they publish are read back from the
# alerts topic.
set -euo pipefail
bin=${1:-.build/release/streamlearn}
work=$(mktemp -d)
"$bin" broker --topic demo-events:8 --topic demo-fraud:1 --topic demo-alerts:1 --bootstrap-file "$work/bootstrap" >"$work/broker.out" 2>"$work/broker.err" &
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

"$bin" generate fraud --events 10000 --seed 3 --drift-at 5000 --drift covariate "$work/fraud.jsonl"
"$bin" produce --brokers "$bootstrap" --topic demo-fraud "$work/fraud.jsonl" 2>"$work/produce-fraud.err" \
    || { cat "$work/produce-fraud.err" >&2; exit 1; }
"$bin" consume --brokers "$bootstrap" --topic demo-fraud --group demo-fraud --from-beginning --max 10000 \
    >"$work/fraud-consumed.jsonl" 2>"$work/consume-fraud.err" || { cat "$work/consume-fraud.err" >&2; exit 1; }
"$bin" drift --features amount,hour,country,distance_km --reference 2000 --window 2000 --step 1000 \
    --model-name demo-fraud --brokers "$bootstrap" --alerts-topic demo-alerts "$work/fraud-consumed.jsonl" \
    >"$work/drift.txt" 2>"$work/drift.err" || { cat "$work/drift.err" >&2; exit 1; }
"$bin" consume --brokers "$bootstrap" --topic demo-alerts --group demo-alerts --from-beginning --timeout 3 \
    >"$work/alerts.jsonl" 2>"$work/consume-alerts.err" || { cat "$work/consume-alerts.err" >&2; exit 1; }
echo "drift stream:     $(wc -l <"$work/fraud-consumed.jsonl") fraud events through Kafka, inputs drifting at event 5000"
echo "drift:            $(tail -n 1 "$work/drift.txt")"
echo "ops feed:         $(wc -l <"$work/alerts.jsonl") alerts on topic demo-alerts"
# One line per alert: id, state, severity, PSI and window.
sed -E 's/.*"feature":"([^"]*)".*"id":"([^"]*)".*"severity":"([^"]*)".*"state":"([^"]*)".*"value":([0-9.]{1,6})[0-9]*.*"window":\{"end":([0-9]*),"start":([0-9]*)\}.*/alert:            \2  \4 \3  psi \5  events [\7, \6)/' "$work/alerts.jsonl"
