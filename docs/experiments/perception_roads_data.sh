#!/usr/bin/env bash
# Issue 31: perception datasets from every road of the regression suite (sims/suites/regression.toml).
#   train: 4 episodes per road, seeds 1000.., render variations drawn per episode ("train");
#   val:   2 episodes per road, seeds 90000.., the same variations (picks the kept epoch);
#   train-clean: 4 episodes per road, seeds 2000.., frames as highway-env draws them ("none"; the
#          render variations then come from per-sample augmentation in the pixels, --augment);
#   train-clean-curves: 8 more episodes of each road that is not a straight highway, seeds 3000..,
#          "none" (those roads show vehicles at every heading, and their first episodes few of them);
#   train-more-curves: 16 more episodes of each curved road (roundabout, intersection, racetrack,
#          u-turn), seeds 4000.., "none": their held-out F1 lagged the straight roads' by 0.1-0.2
#   train-colours: 4 episodes per road, seeds 5000.., vehicles and road in colours drawn per
#          episode ("colours": hues outside the held-out band, no zoom);
#   val-clean: 1 episode per road, seeds 91000.., as highway-env draws them (picks the kept epoch
#          of a run trained on train-clean);
#   train-turned: 16 more episodes of each road with lane changes (the highways, cut-in, the merges,
#          lead-brake; exit-v0's traffic never turns 5 degrees), seeds 6000.., "none", only the
#          stacks that start with a vehicle turned at least 5 degrees from the ego's heading
#          (--min-turn-deg): lane changers are one vehicle in thirty elsewhere, and the network
#          read them as driving straight
#   test:  1 episode per road, seeds 95000.., frames as highway-env draws them ("none");
#   test-unseen-colours: 1 episode per road, seeds 96000.., vehicles in hues no training frame shows.
# Usage: bash docs/experiments/perception_roads_data.sh SPLIT...   (resumable: rerun to finish)
#   WIDTH=320 ROOT=data/roads-320 bash ...: frames 320 px long (80 m ahead and behind, not 64) in
#   another folder; WORKERS=2: two worker processes.
set -euo pipefail
ROADS="highway highway-dense highway-fast dense-slow cut-in merge-closing-gap lead-brake lead-brake-close
stalled-vehicle merge exit racetrack roundabout intersection two-way u-turn"
for split in "$@"; do
  for road in $ROADS; do
    every=5
    case "$road" in highway|highway-dense) every=10 ;; esac
    case "$split" in
      train) args=(--episodes 4 --episodes-per-shard 1 --seed 1000 --variation train --sample-every-steps "$every") ;;
      train-clean-curves)
        case "$road" in roundabout|intersection|racetrack|u-turn|two-way|exit|merge) ;; *) continue ;; esac
        args=(--episodes 8 --episodes-per-shard 1 --seed 3000 --variation none --sample-every-steps 5) ;;
      train-more-curves)
        case "$road" in roundabout|intersection|racetrack|u-turn) ;; *) continue ;; esac
        args=(--episodes 16 --episodes-per-shard 1 --seed 4000 --variation none --sample-every-steps 5) ;;
      train-turned)
        case "$road" in highway|highway-dense|highway-fast|dense-slow|cut-in|merge-closing-gap|lead-brake|merge) ;; *) continue ;; esac
        args=(--episodes 16 --episodes-per-shard 1 --seed 6000 --variation none --sample-every-steps 5 --min-turn-deg 5) ;;
      train-colours) args=(--episodes 4 --episodes-per-shard 1 --seed 5000 --variation colours --sample-every-steps $((2 * every))) ;;
      train-clean) args=(--episodes 4 --episodes-per-shard 1 --seed 2000 --variation none --sample-every-steps "$every") ;;
      val) args=(--episodes 2 --episodes-per-shard 2 --seed 90000 --variation train --sample-every-steps 15) ;;
      val-clean) args=(--episodes 1 --episodes-per-shard 1 --seed 91000 --variation none --sample-every-steps 10) ;;
      test) args=(--episodes 1 --episodes-per-shard 1 --seed 95000 --variation none --sample-every-steps "$every") ;;
      test-unseen-colours) args=(--episodes 1 --episodes-per-shard 1 --seed 96000 --variation unseen-colours --sample-every-steps 10) ;;
      *) echo "unknown split $split" >&2; exit 2 ;;
    esac
    drive dataset --out "${ROOT:-data/roads}/$split/$road" --scenario "$road" "${args[@]}" \
      --workers "${WORKERS:-1}" ${WIDTH:+--frame-width-px "$WIDTH"}
  done
done
