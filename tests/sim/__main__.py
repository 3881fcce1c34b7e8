"""``make sim N=100000``: run many schedules and print the seed of any that breaks an invariant.

Replay one: ``make sim SEED=1234 N=1``.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.sim.world import World


def main() -> int:
    parser = argparse.ArgumentParser(prog="make sim")
    parser.add_argument("-n", "--schedules", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--steps", type=int, default=30, help="random steps per schedule before healing")
    parser.add_argument("--p2p", action="store_true", help="a provider taking a text per recipient (v2rest)")
    args = parser.parse_args()
    started = time.monotonic()
    failing = 0
    for seed in range(args.seed, args.seed + args.schedules):
        violations = World(seed, steps=args.steps, p2p=args.p2p).run()
        if violations:
            failing += 1
            for violation in violations[:5]:
                print(f"VIOLATION {violation}", flush=True)
        done = seed - args.seed + 1
        if done % 5000 == 0:
            print(f"{done} schedules, {failing} failing, {time.monotonic() - started:.0f} s", flush=True)
    elapsed = time.monotonic() - started
    print(
        f"{args.schedules} schedules (seeds {args.seed}..{args.seed + args.schedules - 1}), "
        f"{failing} failing, {elapsed:.1f} s"
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
