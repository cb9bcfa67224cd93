"""Whether two result JSONs of ``drive rollout`` or ``drive eval`` agree in every value but timing.

Used for issue #28 to show that the architecture change left behaviour alone: the same command run
at two commits must give the same metrics, episode by episode, outside timing and versions.

    python docs/experiments/same_results.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

IGNORED = {"timing", "versions", "wall_s"}  # wall-clock figures and versions vary run to run


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Every path at which the two documents differ, outside :data:`IGNORED` keys."""
    if type(before) is not type(after):
        return [f"{path}: {type(before).__name__} != {type(after).__name__}"]
    if isinstance(before, dict):
        found = []
        for key in sorted((set(before) | set(after)) - IGNORED):
            if key not in before or key not in after:
                found.append(f"{path}/{key}: only in one")
            else:
                found += differences(before[key], after[key], f"{path}/{key}")
        return found
    if isinstance(before, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} != {len(after)} items"]
        return [
            d
            for i, pair in enumerate(zip(before, after, strict=True))
            for d in differences(*pair, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {before!r} != {after!r}"]


if __name__ == "__main__":
    with open(sys.argv[1]) as first, open(sys.argv[2]) as second:
        found = differences(json.load(first), json.load(second))
    print(f"{len(found)} differences")
    print("\n".join(found[:30]))
    sys.exit(1 if found else 0)
