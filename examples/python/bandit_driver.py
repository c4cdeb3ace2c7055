"""Drive a `streamlearn run` bandit job (examples/bandit.yaml) from Python and measure its regret.

Each round sends a request {"id"} to the requests topic, reads the job's choice {"id", "arm", "propensity"} from
the decisions topic (read_committed), draws a reward from the chosen arm (Bernoulli, with the means given) and
sends it back {"id", "reward"}. Up to --in-flight rounds are open at once, as a service's concurrent visitors
are. The pseudo-regret, sum over rounds of (best mean - chosen arm's mean), is printed with that of choosing
uniformly at random.

    python bandit_driver.py --brokers HOST:PORT --rounds 5000 --arm-means 0.2,0.35,0.5,0.65
"""

import argparse
import json
import random
import sys
import time
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--arm-means", default="0.2,0.35,0.5,0.65", help="each arm's reward probability")
    parser.add_argument("--in-flight", type=int, default=32, help="rounds open at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", default="offer-requests")
    parser.add_argument("--decisions", default="offer-decisions")
    parser.add_argument("--rewards", default="offer-rewards")
    parser.add_argument("--timeout", type=float, default=60)
    arguments = parser.parse_args()
    means = [float(m) for m in arguments.arm_means.split(",")]
    rng = random.Random(arguments.seed)

    decisions = Consumer({
        "bootstrap.servers": arguments.brokers, "group.id": "bandit-driver", "enable.auto.commit": False,
        "isolation.level": "read_committed", "fetch.wait.max.ms": 10,
    })
    partitions = decisions.list_topics(arguments.decisions, timeout=10).topics[arguments.decisions].partitions
    decisions.assign([
        TopicPartition(arguments.decisions, p, decisions.get_watermark_offsets(TopicPartition(arguments.decisions, p), timeout=10)[1])
        for p in partitions])
    producer = Producer({"bootstrap.servers": arguments.brokers, "linger.ms": 1, "acks": "all"})

    run = f"r{arguments.seed}-{time.time_ns()}"
    open_rounds = set()
    sent = 0
    chosen = Counter()
    regret = 0.0
    reward_total = 0.0

    def ask():
        nonlocal sent
        request_id = f"{run}-{sent}"
        sent += 1
        open_rounds.add(request_id)
        producer.produce(arguments.requests, key=request_id, value=json.dumps({"id": request_id}))

    for _ in range(min(arguments.in_flight, arguments.rounds)):
        ask()
    deadline = time.monotonic() + arguments.timeout
    started = time.monotonic()
    while open_rounds:
        if time.monotonic() > deadline:
            sys.exit(f"the job answered nothing for {arguments.timeout} s: is it running on {arguments.requests}?")
        for message in decisions.consume(num_messages=1000, timeout=0.05):
            if message.error() is not None:
                continue
            decision = json.loads(message.value())
            if decision["id"] not in open_rounds:
                continue
            deadline = time.monotonic() + arguments.timeout
            open_rounds.remove(decision["id"])
            arm = int(decision["arm"])
            if not 0 <= arm < len(means):
                sys.exit(f"the job chose arm {arm}: --arm-means has {len(means)} arms (model.arms must match)")
            reward = 1.0 if rng.random() < means[arm] else 0.0
            producer.produce(arguments.rewards, key=decision["id"], value=json.dumps({"id": decision["id"], "reward": reward}))
            chosen[arm] += 1
            regret += max(means) - means[arm]
            reward_total += reward
            if sent < arguments.rounds:
                ask()
        producer.poll(0)
    producer.flush()
    decisions.close()
    seconds = time.monotonic() - started
    uniform = arguments.rounds * (max(means) - sum(means) / len(means))
    print(json.dumps({
        "rounds": arguments.rounds, "regret": round(regret, 3), "uniform_regret": round(uniform, 3),
        "regret_ratio": round(regret / uniform, 4), "mean_reward": round(reward_total / arguments.rounds, 4),
        "arm_shares": [round(chosen[a] / arguments.rounds, 4) for a in range(len(means))],
        "rounds_per_second": round(arguments.rounds / seconds),
    }))


if __name__ == "__main__":
    main()
