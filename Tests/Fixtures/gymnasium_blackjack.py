"""Record Gymnasium Blackjack-v1 hands for StreamLearn's replay test: per hand, the cards in the order Gymnasium
drew them (dealer's two, player's two, the player's hits, the dealer's draws), the actions (a seeded coin), and
each step's observation, reward and flags.

Usage: gymnasium_blackjack.py HANDS SEED [KWARGS_JSON]"""

import json
import random
import sys

import gymnasium as gym

hands, seed = int(sys.argv[1]), int(sys.argv[2])
env = gym.make("Blackjack-v1", **(json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}))
coin = random.Random(seed)
out = []
for hand in range(hands):
    observation, _ = env.reset(seed=seed + hand)
    start = [int(v) for v in observation]
    base = env.unwrapped
    dealer_start, player_start = list(base.dealer), list(base.player)
    steps = []
    while True:
        # Hit more often on low sums, so hands both bust and stand.
        action = 1 if coin.random() < (0.9 if observation[0] < 12 else 0.35) else 0
        observation, reward, terminated, truncated, _ = env.step(action)
        steps.append({"action": action, "observation": [int(v) for v in observation], "reward": float(reward),
                      "terminated": bool(terminated), "truncated": bool(truncated)})
        if terminated or truncated:
            break
    cards = dealer_start + player_start + list(base.player[2:]) + list(base.dealer[2:])
    out.append({"cards": [int(c) for c in cards], "start": start, "steps": steps})
json.dump(out, sys.stdout)
