"""Drive any discrete Gymnasium environment through a `streamlearn run` reinforcement job, then evaluate the greedy
policy the job publishes in Gymnasium itself.

N copies of the environment play side by side. For each step the driver asks the job for an action (a request
{"episode", "state"} on the requests topic), reads the answer on the decisions topic (read_committed), steps the
environment, and sends the transition {"state", "action", "reward", "next_state", "terminated", "truncated"} that
the job learns from. When the job has learned every transition, its newest greedy policy ({"greedy_actions": […]},
on the policy topic at each snapshot) is played greedily for --eval-episodes episodes.

    python gym_driver.py --brokers HOST:PORT --env FrozenLake-v1 --env-kwargs '{"is_slippery": true}' \
        --envs 64 --episodes 3000

The job's configuration must match the environment: model.states = observation_space.n, model.actions =
action_space.n (the driver checks the policy's length), and its topics the ones named here (defaults: those of
examples/reinforcement.yaml).
"""

import argparse
import json
import sys
import time

import gymnasium as gym
from confluent_kafka import Consumer, Producer, TopicPartition


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True, help="bootstrap servers, host:port[,…]")
    parser.add_argument("--env", default="FrozenLake-v1", help="a Gymnasium id with discrete observations and actions")
    parser.add_argument("--env-kwargs", default="{}", help="keyword arguments of gymnasium.make, as JSON")
    parser.add_argument("--envs", type=int, default=64, help="environments played side by side")
    parser.add_argument("--episodes", type=int, default=3000, help="training episodes in all")
    parser.add_argument("--max-episode-steps", type=int, default=200,
                        help="truncate longer episodes (environments without a time limit of their own)")
    parser.add_argument("--eval-episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", default="agent-requests")
    parser.add_argument("--decisions", default="agent-actions")
    parser.add_argument("--transitions", default="agent-transitions")
    parser.add_argument("--policy", default="agent-policy")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the job at most")
    return parser.parse_args()


def make_env(arguments):
    env = gym.make(arguments.env, **json.loads(arguments.env_kwargs))
    if env.spec is None or env.spec.max_episode_steps is None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=arguments.max_episode_steps)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(env.action_space, gym.spaces.Discrete):
        sys.exit(f"{arguments.env}: observations and actions must be discrete (tabular jobs)")
    return env


def end_offsets(consumer, topic):
    """The next offset of each partition of `topic` now: what the driver reads starts there."""
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    if metadata.error is not None:
        sys.exit(f"topic {topic}: {metadata.error}")
    return [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in metadata.partitions]


def reader(brokers, topic, name):
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": f"gym-driver-{name}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "fetch.wait.max.ms": 10,
    })
    consumer.assign(end_offsets(consumer, topic))
    return consumer


def train(arguments, producer, decisions):
    """Plays --episodes episodes; returns (transitions sent, mean return over the last 10% of episodes)."""
    envs = [make_env(arguments) for _ in range(arguments.envs)]
    episode_of = {}  # episode id → environment index
    state = [0] * len(envs)
    total = [0.0] * len(envs)
    returns = []
    started = 0
    transitions = 0

    def start(index):
        nonlocal started
        observation, _ = envs[index].reset(seed=arguments.seed * 1_000_003 + started)
        episode = f"{arguments.seed}-{started}"
        started += 1
        episode_of[episode] = index
        state[index], total[index] = int(observation), 0.0
        ask(episode, index)

    def ask(episode, index):
        producer.produce(arguments.requests, key=episode, value=json.dumps({"episode": episode, "state": state[index]}))

    for index in range(min(len(envs), arguments.episodes)):
        start(index)
    producer.flush()
    deadline = time.monotonic() + arguments.timeout
    while episode_of:
        if time.monotonic() > deadline:
            sys.exit(f"the job answered no action for {arguments.timeout} s: is it running on {arguments.requests}?")
        for message in decisions.consume(num_messages=1000, timeout=0.05):
            if message.error() is not None:
                continue
            decision = json.loads(message.value())
            index = episode_of.get(decision["episode"])
            if index is None or decision["state"] != state[index]:
                continue  # an answer of another run on the same topics
            deadline = time.monotonic() + arguments.timeout
            action = int(decision["action"])
            observation, reward, terminated, truncated, _ = envs[index].step(action)
            producer.produce(arguments.transitions, key=decision["episode"], value=json.dumps({
                "state": state[index], "action": action, "reward": float(reward), "next_state": int(observation),
                "terminated": bool(terminated), "truncated": bool(truncated),
            }))
            transitions += 1
            total[index] += float(reward)
            state[index] = int(observation)
            if terminated or truncated:
                del episode_of[decision["episode"]]
                returns.append(total[index])
                if started < arguments.episodes:
                    start(index)
            else:
                ask(decision["episode"], index)
        producer.poll(0)
    producer.flush()
    tail = returns[-max(1, len(returns) // 10):]
    return transitions, sum(tail) / len(tail)


def newest_policy(arguments, transitions):
    """The greedy actions of the first policy the job publishes after learning all `transitions`."""
    consumer = Consumer({
        "bootstrap.servers": arguments.brokers, "group.id": "gym-driver-policy", "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    metadata = consumer.list_topics(arguments.policy, timeout=10).topics[arguments.policy]
    consumer.assign([TopicPartition(arguments.policy, p, 0) for p in metadata.partitions])  # from the start
    deadline = time.monotonic() + arguments.timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=100, timeout=0.2):
                if message.error() is None:
                    policy = json.loads(message.value())
                    if policy["model_version"] >= transitions:
                        return policy
    finally:
        consumer.close()
    sys.exit(f"no policy with {transitions} updates on {arguments.policy} within {arguments.timeout} s "
             "(the job publishes one at each snapshot: snapshots.every_seconds)")


def evaluate(arguments, actions):
    """Mean return and success rate (episodes with a positive return) of the greedy policy, in Gymnasium."""
    env = make_env(arguments)
    returns = []
    for episode in range(arguments.eval_episodes):
        observation, _ = env.reset(seed=10_000_019 + episode)
        done, total = False, 0.0
        while not done:
            observation, reward, terminated, truncated, _ = env.step(actions[int(observation)])
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return sum(returns) / len(returns), sum(1 for r in returns if r > 0) / len(returns)


def main():
    arguments = parse_arguments()
    states = make_env(arguments).observation_space.n
    producer = Producer({"bootstrap.servers": arguments.brokers, "linger.ms": 1, "acks": "all"})
    decisions = reader(arguments.brokers, arguments.decisions, "decisions")
    started = time.monotonic()
    try:
        transitions, late_return = train(arguments, producer, decisions)
    finally:
        decisions.close()
    seconds = time.monotonic() - started
    policy = newest_policy(arguments, transitions)
    actions = policy["greedy_actions"]
    if len(actions) != states:
        sys.exit(f"the job's policy has {len(actions)} states, {arguments.env} has {states}: set model.states")
    mean_return, success = evaluate(arguments, actions)
    print(json.dumps({
        "env": arguments.env, "episodes": arguments.episodes, "transitions": transitions,
        "steps_per_second": round(transitions / seconds), "training_return_last_10pct": round(late_return, 4),
        "model_version": policy["model_version"], "greedy_mean_return": round(mean_return, 4),
        "greedy_success_rate": round(success, 4),
    }))


if __name__ == "__main__":
    main()
