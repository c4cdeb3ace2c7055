"""Record Gymnasium Taxi-v4 episodes with fickle_passenger for StreamLearn's test: the greedy policy of value
iteration on the dry table (so the taxi picks the passenger up and drives), with a seeded ε of 0.1, and every step's
(state, action, next_state, reward, terminated as 0 or 1). Prints {"policy": [...], "episodes": [[[s, a, s2, r, t], ...], ...]}.

Usage: gymnasium_fickle_taxi.py EPISODES SEED"""

import json
import random
import sys

import gymnasium as gym
import numpy as np

episodes, seed = int(sys.argv[1]), int(sys.argv[2])
env = gym.make("Taxi-v4", fickle_passenger=True)
P = env.unwrapped.P
values = np.zeros(500)
for _ in range(1000):
    q = np.array([[sum(p * (r + (0 if t else 0.99 * values[s2])) for p, s2, r, t in P[s][a]) for a in range(6)]
                  for s in range(500)])
    new = q.max(axis=1)
    if np.abs(new - values).max() < 1e-10:
        break
    values = new
policy = [int(a) for a in q.argmax(axis=1)]
coin = random.Random(seed)
out = []
for episode in range(episodes):
    state, _ = env.reset(seed=seed + episode)
    steps = []
    while True:
        action = coin.randrange(6) if coin.random() < 0.1 else policy[state]
        following, reward, terminated, truncated, _ = env.step(action)
        steps.append([int(state), action, int(following), float(reward), int(terminated)])
        state = following
        if terminated or truncated:
            break
    out.append(steps)
json.dump({"policy": policy, "episodes": out}, sys.stdout)
