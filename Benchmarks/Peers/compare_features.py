#!/usr/bin/env python3
"""River's keyed aggregates against `streamlearn learn --features` on the same raw transactions.

Usage: compare_features.py RAW.jsonl FEATURES.yaml STREAMLEARN [--events N]
Needs: pip install river  (make bench-features installs it)

The stream is `streamlearn generate card-network`: transactions, then each one's label line days later in event
time. Both sides read it in file order and learn an event when its label line comes (progressive validation with
delayed labels), from the same features:

- raw fields: card, merchant, merchant_category, country, channel, device (one-hot) and amount;
- per card: transactions in the last 10 minutes and 24 hours, the z-score of the amount against the card's last
  30 days (mean and variance over 30 days);
- per merchant: transactions in the last hour, and the fraud rate over 30 days, learned when labels arrive.

River: `feature_extraction.Agg` and `TargetAgg` over `utils.TimeRolling` windows (exact: every event in the
window is kept), `preprocessing.StandardScaler` and `linear_model.LogisticRegression` with AdaGrad at 0.1,
StreamLearn's default. StreamLearn: FEATURES.yaml (the same aggregates, in time buckets), `learn --json`.
Prints one JSON object: events/s, ROC-AUC and PR-AUC (average precision) of each, and the ratio of rates.
"""
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

from compare_peers import roc_auc  # exact, average ranks for ties


def average_precision(scores, labels):
    """scikit-learn's average_precision_score: Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.where(np.diff(scores))[0]
    ends = np.r_[distinct, len(scores) - 1]
    true_positives = np.cumsum(labels)[ends]
    flagged = ends + 1
    precision = true_positives / flagged
    recall = true_positives / labels.sum()
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


def river_run(lines):
    from river import feature_extraction as fx, linear_model, optim, preprocessing, stats, utils

    def rolling(stat, **period):
        return utils.TimeRolling(stat, period=dt.timedelta(**period))

    # A count is a rolling sum of ones (stats.Count cannot be reverted out of a window).
    card_count_10m = fx.Agg(on="one", by="card", how=rolling(stats.Sum, minutes=10))
    card_count_24h = fx.Agg(on="one", by="card", how=rolling(stats.Sum, hours=24))
    card_mean_30d = fx.Agg(on="amount", by="card", how=rolling(stats.Mean, days=30))
    card_var_30d = fx.Agg(on="amount", by="card", how=utils.TimeRolling(stats.Var, period=dt.timedelta(days=30), ddof=0))
    merchant_count_1h = fx.Agg(on="one", by="merchant", how=rolling(stats.Sum, hours=1))
    merchant_rate = fx.TargetAgg(by="merchant", how=rolling(stats.Mean, days=30))
    aggregates = [card_count_10m, card_count_24h, card_mean_30d, card_var_30d, merchant_count_1h]
    # River names an aggregate by its field, statistic and key (both card counts are `one_sum_by_card`): ours.
    names = ["card_count_10m", "card_count_24h", "mean", "variance", "merchant_count_1h", "merchant_fraud_rate_30d"]
    scaler = preprocessing.StandardScaler()
    model = linear_model.LogisticRegression(optimizer=optim.AdaGrad(0.1))
    waiting = {}
    scores, labels = [], []
    start = time.perf_counter()
    for line in lines:
        event = json.loads(line)
        t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=event["ts"])  # naive UTC, as River compares
        if "card" not in event:
            held = waiting.pop(event["id"], None)
            if held is None:
                continue
            x, raw, score = held
            y = bool(event["label"])
            model.learn_one(x, y)
            merchant_rate.learn_one(raw, y, t=t)
            scores.append(score)
            labels.append(y)
            continue
        event["one"] = 1.0
        # Features from the history before the event, then the event is added.
        numeric = {"amount": event["amount"]}
        for name, aggregate in zip(names, aggregates + [merchant_rate]):
            numeric[name] = next(iter(aggregate.transform_one(event).values()))
        mean = numeric.pop("mean")
        variance = numeric.pop("variance")
        numeric["card_amount_z_30d"] = (event["amount"] - mean) / variance**0.5 if variance and variance > 0 else 0.0
        scaler.learn_one(numeric)
        x = scaler.transform_one(numeric)
        for field in ("card", "merchant", "merchant_category", "country", "channel", "device"):
            x[f"{field}={event[field]}"] = 1.0
        score = model.predict_proba_one(x).get(True, 0.0)
        for aggregate in aggregates:
            aggregate.learn_one(event, t=t)
        waiting[event["id"]] = (x, event, score)
    seconds = time.perf_counter() - start
    return {
        "lines_per_second": round(len(lines) / seconds),
        "roc_auc": roc_auc(scores, labels),
        "pr_auc": average_precision(scores, labels),
        "labelled": len(labels),
    }


def main():
    raw, features, streamlearn = sys.argv[1:4]
    events = int(sys.argv[sys.argv.index("--events") + 1]) if "--events" in sys.argv else None
    lines = [line for line in open(raw) if line.strip()]
    if events is not None:
        # The first N transactions and the labels of those among them.
        ids = set()
        kept = []
        for line in lines:
            event = json.loads(line)
            if "card" in event:
                if len(ids) >= events:
                    continue
                ids.add(event["id"])
            elif event["id"] not in ids:
                continue
            kept.append(line)
        lines = kept
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as prefix:
        prefix.writelines(lines)
        prefix.flush()
        ours = json.loads(
            subprocess.run(
                [streamlearn, "learn", "--json", "--features", features, prefix.name],
                check=True, capture_output=True, text=True,
            ).stdout.splitlines()[-1]
        )
    theirs = river_run(lines)
    result = {
        "lines": len(lines),
        "streamlearn": {
            "lines_per_second": ours["events_per_second"], "roc_auc": ours["roc_auc"], "pr_auc": ours["average_precision"],
        },
        "river": theirs,
    }
    result["speedup"] = round(ours["events_per_second"] / theirs["lines_per_second"], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
