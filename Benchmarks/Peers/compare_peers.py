#!/usr/bin/env python3
"""Progressive validation of River and Vowpal Wabbit on the same JSON Lines stream that `streamlearn learn` reads.

Usage: compare_peers.py EVENTS.jsonl [--river-events N]
Needs: pip install river vowpalwabbit   (make bench-peers installs them)

River: StandardScaler | LogisticRegression() (SGD 0.01, its defaults), predict_proba_one then learn_one.
Vowpal Wabbit 9: its command-line driver (python -m vowpalwabbit, the C++ parser and learner) with
--loss_function logistic --link logistic; -p writes each prediction before the example is learned
(VW's progressive validation). The VW text file is written before timing starts. VW's rate is given over its
whole run and without its start-up (measured on a one-line file), which is how `streamlearn learn` times itself.
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
        def run_vw(path, output):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "vowpalwabbit", "-d", path, "--loss_function", "logistic", "--link",
                 "logistic", "-p", output, "--quiet"],
                check=True,
            )
            return time.perf_counter() - start

        seconds = run_vw(data, predictions)
        scores = [float(line.split()[0]) for line in open(predictions)]
        # The driver's start-up (Python, the module, VW's set-up) on a one-line file, best of 3: the rate without
        # it compares like for like with `streamlearn learn`'s events_per_second, which times its loop only.
        one = os.path.join(directory, "one.vw")
        with open(data) as source, open(one, "w") as out:
            out.write(source.readline())
        startup = min(run_vw(one, os.path.join(directory, "one.txt")) for _ in range(3))
        results["vw"] = {
            "roc_auc": roc_auc(scores, labels), "events_per_second": round(len(events) / seconds),
            "startup_seconds": round(startup, 3),
            "events_per_second_without_startup": round(len(events) / max(seconds - startup, 1e-9)),
        }

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
