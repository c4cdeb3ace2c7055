"""Record Gymnasium trajectories for StreamLearn's step-function tests: for each episode the start state (the
unwrapped env's float64 state), then per step the action, the state after it, the float32 observation, the reward and
the terminated and truncated flags. Actions come from a seeded random policy that pushes one way for a while, so that
episodes reach the boundaries (MountainCar's left wall, CartPole's failure); every other episode follows a
policy that reaches the goal (MountainCar: push the way it moves; CartPole: push the way the pole falls), so
episodes also end at the flag and the time limit. Floats are written with
repr(), which round-trips exactly.

Usage: gymnasium_trajectories.py ENV_ID EPISODES SEED [KWARGS_JSON]"""

import json
import random
import sys

import gymnasium as gym
import numpy as np

env_id, episodes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = gym.make(env_id, **(json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}))
chooser = random.Random(seed)
actions = env.action_space.n
out = []
for episode in range(episodes):
    env.reset(seed=seed + episode)
    start = [float(v) for v in np.asarray(env.unwrapped.state, dtype=np.float64)]
    steps = []
    action, run = 0, 0
    while True:
        state = env.unwrapped.state
        if episode % 2 == 1 and env_id.startswith("MountainCar"):
            action = 2 if state[1] >= 0 else 0
        elif episode % 2 == 1 and env_id.startswith("CartPole"):
            action = 1 if state[2] + 0.5 * state[3] > 0 else 0
        else:
            if run == 0:  # hold an action for 1-40 steps
                action, run = chooser.randrange(actions), chooser.randint(1, 40)
            run -= 1
        obs, reward, terminated, truncated, _ = env.step(action)
        steps.append({
            "action": action,
            "state": [float(v) for v in np.asarray(env.unwrapped.state, dtype=np.float64)],
            "observation": [float(v) for v in obs],
            "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
        })
        if terminated or truncated:
            break
    out.append({"start": start, "steps": steps})
json.dump(out, sys.stdout)
