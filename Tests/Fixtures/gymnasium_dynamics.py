"""Print a Gymnasium environment's transition table as StreamLearn reads it (`simulate mdp FILE`): Gymnasium's own
`env.unwrapped.P` and initial-state distribution, the tuples as lists. Usage: gymnasium_dynamics.py ENV_ID [KWARGS_JSON]"""

import json
import sys

import gymnasium as gym

env = gym.make(sys.argv[1], **(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
base = env.unwrapped
table = {
    str(state): {str(action): [[float(p), int(s), float(r), bool(d)] for (p, s, r, d) in outcomes]
                 for action, outcomes in actions.items()}
    for state, actions in base.P.items()
}
initial = {str(i): float(p) for i, p in enumerate(base.initial_state_distrib) if p > 0}
json.dump({"n_states": int(env.observation_space.n), "n_actions": int(env.action_space.n), "P": table,
           "initial_states": initial}, sys.stdout)
