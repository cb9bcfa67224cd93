#!/usr/bin/env bash
# The road engine's throughput before and after a change, alternating on the same machine in one
# run (two rounds; compiled, float32, BATCH environments, 4096 by default): machine speed drifts by
# 20% or more within a session here, so only figures taken side by side compare.
#   [ROADS="highway straight"] [BATCH=N] bash docs/experiments/engine_before_after.sh BEFORE_REV [DIR]
# (DIR: the tree after, this one by default; ROADS: the roads, default the four below;
# "straight": highway-v0 on the straight-road engine)
set -euo pipefail
after=$(cd "${2:-.}" && pwd)
source "$(dirname "$0")/before_worktree.sh"
for round in 1 2; do
  for road in ${ROADS:-intersection exit merge roundabout}; do
    for version in before after; do
      tree=$before; [ "$version" = after ] && tree=$after
      name=$road-v0; [ "$road" = straight ] && name=straight
      (cd "$tree" && PYTHONPATH="$tree" "$python" "$after/docs/experiments/engine_rate.py" "$name" "${BATCH:-4096}" 1 2>&1 \
        | grep steps/s | sed "s/^/$version round$round /")
    done
  done
done
