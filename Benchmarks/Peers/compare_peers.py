#!/usr/bin/env python3
"""Progressive validation of River and Vowpal Wabbit on the same JSON Lines stream that `streamlearn learn` reads.

Usage: compare_peers.py EVENTS.jsonl [--river-events N]
Needs: pip install river vowpalwabbit   (make bench-peers installs them)

River: StandardScaler | LogisticRegression() (SGD 0.01, its defaults), predict_proba_one then learn_one.
Vowpal Wabbit 9: its command-line driver (python -m vowpalwabbit, the C++ parser and learner) with
--loss_function logistic --link logistic; -p writes each prediction before the example is learned
(VW's progressive validation). The VW text file is written before timing starts.
ROC-AUC is exact (average ranks for ties), as StreamLearn computes it.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def roc_auc(scores, labels):
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def main():
    path = sys.argv[1]
    river_events = int(sys.argv[sys.argv.index("--river-events") + 1]) if "--river-events" in sys.argv else 200_000
    events = [json.loads(line) for line in open(path) if line.strip()]
    labels = [bool(e["label"]) for e in events]
    features = [{k: v for k, v in e.items() if k not in ("id", "label")} for e in events]
    results = {"events": len(events)}

    # Vowpal Wabbit's driver on a text file.
    with tempfile.TemporaryDirectory() as directory:
        data = os.path.join(directory, "events.vw")
        predictions = os.path.join(directory, "predictions.txt")
        with open(data, "w") as out:
            for x, y in zip(features, labels):
                out.write(("1" if y else "-1") + " |f " + " ".join(f"{k}:{v}" for k, v in x.items()) + "\n")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "vowpalwabbit", "-d", data, "--loss_function", "logistic", "--link", "logistic",
             "-p", predictions, "--quiet"],
            check=True,
        )
        seconds = time.perf_counter() - start
        scores = [float(line.split()[0]) for line in open(predictions)]
        results["vw"] = {"roc_auc": roc_auc(scores, labels), "events_per_second": round(len(events) / seconds)}

    # River, on the first river_events events (it is slow).
    from river import linear_model, preprocessing

    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    n = min(river_events, len(events))
    scores = []
    start = time.perf_counter()
    for x, y in zip(features[:n], labels[:n]):
        scores.append(model.predict_proba_one(x).get(True, 0.0))
        model.learn_one(x, y)
    seconds = time.perf_counter() - start
    results["river"] = {"events": n, "roc_auc": roc_auc(scores, labels[:n]), "events_per_second": round(n / seconds)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
