"""A fraud team's client of a `streamlearn run` scoring job (examples/fraud-scoring.yaml), in Python.

1. Produces the transactions of a CSV file to the events topic, one JSON object per row, keyed by its id (numbers
   as numbers; an empty cell is a missing field; a `label` column is learned as the row's label).
2. Reads the scores back with isolation.level=read_committed, so that it sees each answer once even when the job
   restarts mid-transaction, until every id has its score.
3. Scores one more transaction synchronously through the job's ops endpoint (POST /score), as a card
   authorisation would, and prints its answer.

    python fraud_client.py --brokers HOST:PORT --csv transactions.csv --ops http://127.0.0.1:9464
"""

import argparse
import csv
import json
import sys
import time
import urllib.request
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition


def cell(text):
    """A CSV cell as JSON: an integer, a number, or a string (None when empty)."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def rows(path):
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            yield {key: value for key, value in ((k, cell(v)) for k, v in row.items()) if value is not None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--csv", required=True, help="transactions, one per row, with an `id` column")
    parser.add_argument("--ops", help="the job's ops endpoint, e.g. http://127.0.0.1:9464 (POST /score)")
    parser.add_argument("--events", default="transactions")
    parser.add_argument("--scores", default="fraud-scores")
    parser.add_argument("--timeout", type=float, default=60)
    arguments = parser.parse_args()

    # Where the scores topic ends now: this run's answers come after.
    reader = Consumer({
        "bootstrap.servers": arguments.brokers, "group.id": "fraud-client", "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    partitions = reader.list_topics(arguments.scores, timeout=10).topics[arguments.scores].partitions
    starts = [TopicPartition(arguments.scores, p, reader.get_watermark_offsets(TopicPartition(arguments.scores, p), timeout=10)[1])
              for p in partitions]
    reader.assign(starts)

    producer = Producer({"bootstrap.servers": arguments.brokers, "linger.ms": 5, "acks": "all"})
    sent = set()
    for transaction in rows(arguments.csv):
        key = str(transaction["id"])
        producer.produce(arguments.events, key=key, value=json.dumps(transaction, separators=(",", ":")))
        producer.poll(0)
        sent.add(key)
    producer.flush()

    scores = Counter()
    flagged = 0
    deadline = time.monotonic() + arguments.timeout
    while not sent <= scores.keys() and time.monotonic() < deadline:
        for message in reader.consume(num_messages=1000, timeout=0.2):
            if message.error() is None:
                answer = json.loads(message.value())
                scores[str(answer["id"])] += 1
                flagged += bool(answer["decision"])
    reader.close()
    missing = len(sent - scores.keys())
    repeated = sum(1 for count in scores.values() if count > 1)
    summary = {"sent": len(sent), "scored": len(scores.keys() & sent), "missing": missing, "scored_twice": repeated,
               "flagged": flagged}

    if arguments.ops:
        probe = {"id": "probe-1", "amount": 912.5, "merchant_category": "digital", "country": "BR",
                 "channel": "online", "hour": 3, "distance_km": 4200}
        request = urllib.request.Request(arguments.ops.rstrip("/") + "/score?explain=3", data=json.dumps(probe).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            summary["post_score"] = json.loads(response.read())
    print(json.dumps(summary))
    if missing or repeated:
        sys.exit(1)


if __name__ == "__main__":
    main()
