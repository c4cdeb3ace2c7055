"""Drive a Gymnasium environment with discrete actions through a `streamlearn run` reinforcement job, then
evaluate what the job learned in Gymnasium itself.

N copies of the environment play side by side. For each step the driver asks the job for an action (a request
{"episode", "state"} on the requests topic), reads the answer on the decisions topic (read_committed), steps the
environment, and sends the transition {"state", "action", "reward", "next_state", "terminated", "truncated"} that
the job learns from.

Observations: Discrete ones are states; a Tuple of Discrete ones (Blackjack-v1) is one state,
numpy.ravel_multi_index over the parts (as `streamlearn simulate blackjack` numbers them); a Box (MountainCar-v0,
CartPole-v1) is sent as {"observation": [...]} and {"observation", "next_observation"} to a job with
model.observations (tile-coded).

Evaluation: a tabular job's newest greedy policy ({"greedy_actions": […]}, on the policy topic at each snapshot,
once it has learned every transition) is played for --eval-episodes episodes. A job over observations keeps its
policy in its weights, so its evaluation episodes are played through the job (requests only, no transitions):
greedy when its model.epsilon is 0 or model.evaluation is true; the summary gives their mean return and the share
that terminated before the time limit (terminated_rate) instead of a success rate.

    python gym_driver.py --brokers HOST:PORT --env FrozenLake-v1 --env-kwargs '{"is_slippery": true}' \
        --envs 64 --episodes 3000

The job's configuration must match the environment: model.states = the number of states, or model.observations
for a Box; model.actions = action_space.n; its topics the ones named here (defaults: those of
examples/reinforcement.yaml).
"""

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True, help="bootstrap servers, host:port[,…]")
    parser.add_argument("--env", default="FrozenLake-v1", help="a Gymnasium id with discrete actions")
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
    space = env.observation_space
    tuple_of_discrete = isinstance(space, gym.spaces.Tuple) and all(isinstance(s, gym.spaces.Discrete) for s in space)
    if not isinstance(env.action_space, gym.spaces.Discrete) or not (
            isinstance(space, (gym.spaces.Discrete, gym.spaces.Box)) or tuple_of_discrete):
        sys.exit(f"{arguments.env}: actions must be discrete, observations Discrete, a Tuple of Discrete, or a Box")
    return env


def continuous(env):
    return isinstance(env.observation_space, gym.spaces.Box)


def states(env):
    space = env.observation_space
    return space.n if isinstance(space, gym.spaces.Discrete) else int(np.prod([s.n for s in space]))


def encode(env, observation):
    """What the job reads for an observation: a state, or a list of floats (repr round-trips float32 exactly)."""
    space = env.observation_space
    if isinstance(space, gym.spaces.Box):
        return [float(v) for v in observation]
    if isinstance(space, gym.spaces.Tuple):
        return int(np.ravel_multi_index(tuple(int(v) for v in observation), [s.n for s in space]))
    return int(observation)


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

    key = "observation" if continuous(envs[0]) else "state"

    def start(index):
        nonlocal started
        observation, _ = envs[index].reset(seed=arguments.seed * 1_000_003 + started)
        episode = f"{arguments.seed}-{started}"
        started += 1
        episode_of[episode] = index
        state[index], total[index] = encode(envs[index], observation), 0.0
        ask(episode, index)

    def ask(episode, index):
        producer.produce(arguments.requests, key=episode, value=json.dumps({"episode": episode, key: state[index]}))

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
            if index is None or decision.get("state", state[index]) != state[index]:
                continue  # an answer of another run on the same topics
            deadline = time.monotonic() + arguments.timeout
            action = int(decision["action"])
            observation, reward, terminated, truncated, _ = envs[index].step(action)
            following = encode(envs[index], observation)
            producer.produce(arguments.transitions, key=decision["episode"], value=json.dumps({
                key: state[index], "action": action, "reward": float(reward), f"next_{key}": following,
                "terminated": bool(terminated), "truncated": bool(truncated),
            }))
            transitions += 1
            total[index] += float(reward)
            state[index] = following
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
            observation, reward, terminated, truncated, _ = env.step(actions[encode(env, observation)])
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return sum(returns) / len(returns), sum(1 for r in returns if r > 0) / len(returns)


def evaluate_through_job(arguments, producer, decisions):
    """Mean return of the job's own answers (no transitions sent, so it learns nothing), all --eval-episodes
    episodes side by side, and the share of episodes that terminated before the time limit (MountainCar: reached
    the flag; CartPole: fell)."""
    envs = [make_env(arguments) for _ in range(arguments.eval_episodes)]
    observations = [env.reset(seed=10_000_019 + episode)[0] for episode, env in enumerate(envs)]
    names = {f"eval-{arguments.seed}-{episode}": episode for episode in range(len(envs))}
    totals = [0.0] * len(envs)
    terminations = 0
    for name, episode in names.items():
        producer.produce(arguments.requests, key=name, value=json.dumps({"episode": name, "observation": encode(envs[episode], observations[episode])}))
    producer.flush()
    open_episodes, deadline = set(names), time.monotonic() + arguments.timeout
    while open_episodes:
        if time.monotonic() > deadline:
            sys.exit(f"the job answered no evaluation request for {arguments.timeout} s")
        for message in decisions.consume(num_messages=1000, timeout=0.05):
            if message.error() is not None:
                continue
            decision = json.loads(message.value())
            name = decision.get("episode")
            if name not in open_episodes:
                continue
            deadline = time.monotonic() + arguments.timeout
            episode = names[name]
            observation, reward, terminated, truncated, _ = envs[episode].step(int(decision["action"]))
            totals[episode] += float(reward)
            if terminated or truncated:
                open_episodes.discard(name)
                terminations += 1 if terminated else 0
            else:
                producer.produce(arguments.requests, key=name, value=json.dumps({"episode": name, "observation": encode(envs[episode], observation)}))
        producer.poll(0)
    return sum(totals) / len(totals), terminations / len(totals)


def main():
    arguments = parse_arguments()
    env = make_env(arguments)
    producer = Producer({"bootstrap.servers": arguments.brokers, "linger.ms": 1, "acks": "all"})
    decisions = reader(arguments.brokers, arguments.decisions, "decisions")
    started = time.monotonic()
    try:
        transitions, late_return = train(arguments, producer, decisions)
        seconds = time.monotonic() - started
        if continuous(env):
            model_version = None
            mean_return, terminated = evaluate_through_job(arguments, producer, decisions)
        else:
            policy = newest_policy(arguments, transitions)
            model_version, actions = policy["model_version"], policy["greedy_actions"]
            if len(actions) != states(env):
                sys.exit(f"the job's policy has {len(actions)} states, {arguments.env} has {states(env)}: set model.states")
            mean_return, success = evaluate(arguments, actions)
    finally:
        decisions.close()
    summary = {
        "env": arguments.env, "episodes": arguments.episodes, "transitions": transitions,
        "steps_per_second": round(transitions / seconds), "training_return_last_10pct": round(late_return, 4),
        "model_version": model_version, "greedy_mean_return": round(mean_return, 4),
    }
    if continuous(env):
        summary["terminated_rate"] = round(terminated, 4)
    else:
        summary["greedy_success_rate"] = round(success, 4)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
