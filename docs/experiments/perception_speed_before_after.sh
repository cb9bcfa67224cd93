#!/usr/bin/env bash
# The perceiver's frames/s before and after a change, alternating on the same machine in one run
# (two rounds): machine speed drifts by 20% or more within a session here, so only figures taken
# side by side compare. Both sides read the shipped weights and the same held-out frames.
#   bash docs/experiments/perception_speed_before_after.sh BEFORE_REV [DATA]
#   (DATA: held-out frames at the network's window, default data/roads-320/test/highway, made by
#   WIDTH=320 ROOT=data/roads-320 bash docs/experiments/perception_roads_data.sh test)
# Writes docs/results/$NAME-{before,after}-{1,2}.json (NAME default bench-perception-speed) and
# prints a table.
set -euo pipefail
after=$(pwd)
data=$(cd "${2:-data/roads-320/test/highway}" && pwd)
source "$(dirname "$0")/before_worktree.sh"
for round in 1 2; do
  for version in before after; do
    tree=$before; [ "$version" = after ] && tree=$after
    out=$after/docs/results/${NAME:-bench-perception-speed}-$version-$round.json
    # python -c puts the working directory first on the path: each side imports its own tree.
    (cd "$tree" && "$python" -c "import sys; from drive.cli import main; sys.exit(main())" \
      bench perception --weights "$after/perception/weights/stn-cnn" --data "$data" \
      --no-robustness --json "$out" >/dev/null)
    "$python" - "$out" "$version" "$round" <<'PY'
import json, sys
document = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:6s} round {sys.argv[3]}  {document['provenance']['commit'][:7]}  "
      f"b1 {document['frames_per_s_cpu_b1']:6.0f}  b256 {document['frames_per_s_cpu_b256']:6.0f} "
      f"frames/s  F1 {document['presence_f1']:.4f}  position {document['position_mae_m']:.4f} m")
PY
  done
done
