#!/usr/bin/env python3
"""Tile-coded Q-learning on MountainCar-v0 in Python with NumPy: the algorithm `streamlearn simulate mountaincar`
runs, written as a NumPy user would (the tile coder vectorised over tilings, the weights a NumPy array, the
environment's step as Gymnasium's, in Python floats), to compare steps per second in the same run.

Same defaults: 8 tilings of 8 × 8 tiles (offsets t·(2d + 1)/8 of a tile), α 0.5 (α/8 a tile), γ 1, ε 0, zero
weights, the first best action. Prints one JSON line: episodes, steps, seconds, steps_per_second, and the greedy
mean return over 100 episodes.

Usage: mountaincar_numpy.py [EPISODES] [SEED]"""
import json
import math
import sys
import time

import numpy as np

LOW = np.array([-1.2, -0.07])
HIGH = np.array([0.6, 0.07])
TILINGS, TILES, ACTIONS = 8, 8, 3
SPAN = TILES + 1
PER_TILING = SPAN ** 2
OFFSETS = np.array([[(t * (2 * d + 1)) % TILINGS / TILINGS for d in range(2)] for t in range(TILINGS)])
STRIDES = np.array([1, SPAN])
BASES = np.arange(TILINGS) * PER_TILING
ALPHA, GAMMA = 0.5, 1.0


def tiles(observation):
    scaled = np.clip((observation - LOW) / (HIGH - LOW) * TILES, 0, TILES)
    return BASES + ((scaled + OFFSETS).astype(np.int64) * STRIDES).sum(axis=1)


def step(state, action):
    position, velocity = state
    velocity += (action - 1) * 0.001 + math.cos(3 * position) * (-0.0025)
    velocity = min(max(velocity, -0.07), 0.07)
    position += velocity
    position = min(max(position, -1.2), 0.6)
    if position == -1.2 and velocity < 0:
        velocity = 0.0
    return (position, velocity), position >= 0.5 and velocity >= 0


def main():
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    weights = np.zeros((TILINGS * PER_TILING, ACTIONS))
    steps = 0
    start = time.perf_counter()
    for _ in range(episodes):
        state = (rng.uniform(-0.6, -0.4), 0.0)
        active = tiles(np.array(state, dtype=np.float32).astype(np.float64))
        action = int(np.argmax(weights[active].sum(axis=0)))
        for t in range(200):
            state, terminated = step(state, action)
            steps += 1
            next_active = tiles(np.array(state, dtype=np.float32).astype(np.float64))
            q_next = weights[next_active].sum(axis=0)
            next_action = int(np.argmax(q_next))
            target = -1.0 + (0.0 if terminated else GAMMA * q_next[next_action])
            weights[active, action] += ALPHA / TILINGS * (target - weights[active, action].sum())
            if terminated:
                break
            active, action = next_active, next_action
    seconds = time.perf_counter() - start
    returns = []
    for _ in range(100):
        state, total = (rng.uniform(-0.6, -0.4), 0.0), 0.0
        for t in range(200):
            active = tiles(np.array(state, dtype=np.float32).astype(np.float64))
            state, terminated = step(state, int(np.argmax(weights[active].sum(axis=0))))
            total -= 1
            if terminated:
                break
        returns.append(total)
    print(json.dumps({"episodes": episodes, "steps": steps, "seconds": seconds,
                      "steps_per_second": steps / seconds, "greedy_mean_return": float(np.mean(returns))}))


if __name__ == "__main__":
    main()
