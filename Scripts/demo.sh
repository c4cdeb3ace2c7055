#!/usr/bin/env bash
# The main job on the embedded broker, as a scenario (Scenarios/fraud-drift.yaml): a card-fraud stream whose
# inputs drift at event 20,000 and whose fraud pattern changes at 30,000, labels 500 events late on their own
# topic, goes through Kafka to `streamlearn run`'s scoring job, which scores every transaction, joins each label
# and learns, watches its inputs and scores for drift, and writes scores, alerts and snapshots. The scenario then
# reads the scores and alerts back, checks its expectations, and writes an HTML report with its charts.
set -euo pipefail
bin=$(cd "$(dirname "${1:-.build/release/streamlearn}")" && pwd)/$(basename "${1:-.build/release/streamlearn}")
repo=$(cd "$(dirname "$0")/.." && pwd)
report="$repo/.build/demo/fraud-drift.html"
mkdir -p "$(dirname "$report")"
"$bin" scenario run "$repo/Scenarios/fraud-drift.yaml" --report "$report"
echo "open the report in a browser: file://$report"
