"""Validation cost of nested-fragment documents: Rapport's limit rules (schema/document_shape.py,
each fragment visited once) against Strawberry's own depth and alias limiters (which expand
every spread), with `{ __typename }` as the baseline, all in the same run.

    .venv/bin/python bench/validation_cost.py [--sizes 8,12,16,18,20,30,40]

Document n has n fragments, each spreading the one before twice: 2^(n-1) fields once
expanded, in under 50 bytes per fragment. Strawberry's limiters are only run up to n = 20
(beyond, they take seconds to hours). Prints milliseconds per validation and the ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql import parse, specified_rules, validate  # noqa: E402
from strawberry.extensions.max_aliases import create_validator as aliases_rule  # noqa: E402
from strawberry.extensions.query_depth_limiter import (  # noqa: E402
    create_validator as depth_rule,
)

from schema import schema  # noqa: E402
from schema.limits import _LIMIT_RULES, MAX_ALIASES, MAX_DEPTH  # noqa: E402

STRAWBERRY_UP_TO = 20


def nested_fragments(n: int) -> str:
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n)
    ]
    return f"query Bomb {{ ...F{n - 1} }}\n" + "\n".join(fragments)


def ms(rules: list, document: str, repeat: int) -> float:
    node = parse(document)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        validate(schema._schema, node, rules)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8,12,16,18,20,30,40")
    args = parser.parse_args()
    ours = [*specified_rules, *_LIMIT_RULES]
    theirs = [*specified_rules, depth_rule(MAX_DEPTH, None, None), aliases_rule(MAX_ALIASES)]
    baseline = ms(ours, "{ __typename }", 200)
    print(f"baseline {{ __typename }}: {baseline:.3f} ms (graphql-core's rules + Rapport's)")
    print(
        f"{'n':>3} {'bytes':>6} {'expanded':>14} {'Rapport ms':>11} {'x base':>8} "
        f"{'Strawberry ms':>14} {'x base':>9}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        document = nested_fragments(n)
        mine = ms(ours, document, 20)
        row = f"{n:>3} {len(document):>6} {2 ** (n - 1):>14,} {mine:>11.3f} {mine / baseline:>8.1f}"
        if n <= STRAWBERRY_UP_TO:
            strawberry = ms(theirs, document, 1)
            row += f" {strawberry:>14.1f} {strawberry / baseline:>9.0f}"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
