#!/usr/bin/env bash
# The main job on the embedded broker: a card-fraud stream (20,000 transactions whose inputs drift at event
# 10,000, each label 500 transactions late) goes to Kafka, and `streamlearn run examples/fraud-scoring.yaml`
# scores every transaction, joins each label and learns, watches its inputs and scores for drift, and writes
# scores, alerts and a snapshot. The demo then reads the scores and the alerts back from their topics.
set -euo pipefail
bin=$(cd "$(dirname "${1:-.build/release/streamlearn}")" && pwd)/$(basename "${1:-.build/release/streamlearn}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)

"$bin" broker --topic transactions:4 --topic labels:4 --topic fraud-scores:4 --topic model-alerts:1 \
    --topic dead-letter:1 --bootstrap-file "$work/bootstrap" >"$work/broker.out" 2>"$work/broker.err" &
broker=$!
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap=//p' "$work/broker.out" | head -n 1)
[ -n "$bootstrap" ] || { echo "the embedded broker did not start" >&2; cat "$work/broker.err" >&2; exit 1; }
echo "embedded broker:  $bootstrap"

"$bin" generate fraud --events 20000 --seed 3 --drift-at 10000 --drift covariate --label-delay 500 --quiet \
    "$work/stream.jsonl"
"$bin" produce --brokers "$bootstrap" --topic transactions --key-field id --quiet "$work/stream.jsonl" \
    2>"$work/produce.err" || { cat "$work/produce.err" >&2; exit 1; }
echo "stream:           20000 transactions, inputs drifting at 10000, labels 500 late: $(cat "$work/produce.err")"

# The job, from the example configuration; it stops once the topic has been idle for 3 s.
(cd "$work" && "$bin" run "$repo/examples/fraud-scoring.yaml" --brokers "$bootstrap" --ops-address 127.0.0.1:0 \
    --exit-when-idle 3 --status-interval 600 >"$work/run.txt" 2>"$work/run.err") \
    || { cat "$work/run.err" >&2; exit 1; }
sed 's/^/run:              /' "$work/run.txt"

"$bin" consume --brokers "$bootstrap" --topic fraud-scores --group demo-scores --from-beginning --max 20000 \
    --timeout 5 >"$work/scores.jsonl" 2>"$work/consume.err" || { cat "$work/consume.err" >&2; exit 1; }
unique=$(sed -E 's/^\{"id":"([^"]*)".*/\1/' "$work/scores.jsonl" | sort -u | wc -l)
echo "scores:           $(wc -l <"$work/scores.jsonl") on topic fraud-scores, $unique distinct ids"
[ "$unique" -eq 20000 ] || { echo "expected one score for each of 20000 transactions" >&2; exit 1; }

"$bin" consume --brokers "$bootstrap" --topic model-alerts --group demo-alerts --from-beginning --timeout 3 \
    >"$work/alerts.jsonl" 2>"$work/consume-alerts.err" || { cat "$work/consume-alerts.err" >&2; exit 1; }
echo "alerts:           $(wc -l <"$work/alerts.jsonl") on topic model-alerts"
# One line per alert: id, state, severity, value and window.
sed -E 's/.*"id":"([^"]*)".*"severity":"([^"]*)".*"state":"([^"]*)".*"value":(-?[0-9.]{1,6})[0-9]*.*"window":\{"end":([0-9]*),"start":([0-9]*)\}.*/alert:            \1  \3 \2  value \4  events [\6, \5)/' \
    "$work/alerts.jsonl"
echo "snapshot:         $(ls "$work/.streamlearn/snapshots/fraud" | grep -c '^snapshot-') written (the last at shutdown)"
