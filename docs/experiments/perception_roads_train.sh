#!/usr/bin/env bash
# Issue 31: train the perceiver on every road (datasets of perception_roads_data.sh), then measure
# it per road and render variation beside the shipped weights. Resumable: add --resume to a
# train-perception line to continue an interrupted run.
#   bash docs/experiments/perception_roads_data.sh train-clean train-clean-curves val-clean test test-unseen-colours
#   bash docs/experiments/perception_roads_data.sh train-more-curves   (for "curves")
#   bash docs/experiments/perception_roads_train.sh train|curves|adversarial|bench
#   ROOT=data/roads-320 bash ... heading: the wide network fine-tuned with the heading weighted;
#   ... turned: fine-tuned with the lane changers of train-turned added; turned-weighted: the same,
#   each vehicle weighted by how far it is turned
#   ROOT=data/roads-320 bash ... wide|bench: the same splits drawn 320 px long (WIDTH=320 in
#   perception_roads_data.sh): 80 m ahead and behind instead of 64 m
set -euo pipefail
root=${ROOT:-data/roads}
data=(); for folder in "$root"/train-clean/*/ "$root"/train-clean-curves/*/; do data+=(--data "$folder"); done
val=(); for folder in "$root"/val-clean/*/; do val+=(--validation "$folder"); done
case "${1:?train, adversarial or bench}" in
  train)  # from scratch on frames as highway-env draws them, read hue-blind (--pixels hue-blind:
    # each pixel's largest and smallest channel relative to the frame's mean colour), with a
    # brightness, channel gains, a red-blue swap, blur and noise drawn per sample (--augment; no
    # zoom: the spatial transformer does not learn to read one, see docs/perception.md)
    drive train-perception "${data[@]}" "${val[@]}" --out runs/perception-roads --epochs 30 \
      --batch-size 64 --width 8 --device cpu --seed 0 --select f1 --learning-rate 0.001 \
      --pixels hue-blind --augment --augment-zoom 0 ;;
  curves|wide)  # fine-tuned from the shipped weights on all three training sets, 16 more episodes
    # of each curved road included. "wide" with ROOT=data/roads-320: the network is fully
    # convolutional, so its weights read any window; seeing 80 m ahead, not 64, the rule planner
    # drives highway-v0 as comfortably as from ground truth (docs/perception.md, "The camera's reach")
    more=(); for folder in "$root"/train-more-curves/*/; do more+=(--data "$folder"); done
    drive train-perception "${data[@]}" "${more[@]}" "${val[@]}" --out "runs/perception-roads-$1" \
      --epochs 10 --batch-size 64 --width 8 --device cpu --seed 0 --init perception/weights/stn-cnn \
      --select f1 --learning-rate 0.0005 --pixels hue-blind --augment --augment-zoom 0 ;;
  heading)  # "wide" from the shipped weights, the heading weighted HEADING_WEIGHT (default 5)
    # times in the kinematics loss: at 1 the network reads lane changers as driving straight
    # (docs/experiments/turned_vehicles.py)
    more=(); for folder in "$root"/train-more-curves/*/; do more+=(--data "$folder"); done
    drive train-perception "${data[@]}" "${more[@]}" "${val[@]}" --out runs/perception-roads-heading \
      --epochs 10 --batch-size 64 --width 8 --device cpu --seed 0 --init perception/weights/stn-cnn \
      --select f1 --learning-rate 0.0005 --pixels hue-blind --augment --augment-zoom 0 \
      --heading-weight "${HEADING_WEIGHT:-5}" ;;
  turned)  # "wide" from the shipped weights with the lane changers of train-turned added, each
    # stack twice an epoch (perception_roads_data.sh train-turned: stacks that start with a
    # vehicle turned >= 5 degrees; once, they would still be under a tenth of the samples)
    more=(); for folder in "$root"/train-more-curves/*/ "$root"/train-turned/*/ "$root"/train-turned/*/; do more+=(--data "$folder"); done
    # INIT: the weights it starts from, default the shipped ones. The shipped network was made
    # from those shipped at 914bd8b; to repeat it: mkdir DIR; for f in best.safetensors card.json;
    # do git show 914bd8b:perception/weights/stn-cnn/$f > DIR/$f; done; INIT=DIR bash ... turned
    drive train-perception "${data[@]}" "${more[@]}" "${val[@]}" --out "runs/perception-roads-turned${OUT_SUFFIX:-}" \
      --epochs 10 --batch-size 64 --width 8 --device cpu --seed 0 --init "${INIT:-perception/weights/stn-cnn}" \
      --select f1 --learning-rate 0.0005 --pixels hue-blind --augment --augment-zoom 0 \
      --heading-weight "${HEADING_WEIGHT:-1}" --turn-weight "${TURN_WEIGHT:-0}" ;;
  turned-weighted)  # "turned" with each vehicle's kinematics weighted by how far it is turned
    # (--turn-weight TURN_WEIGHT, default 10: a lane changer at 15 degrees counts 3.6 times)
    TURN_WEIGHT=${TURN_WEIGHT:-10} OUT_SUFFIX=-weighted bash "$0" turned ;;
  adversarial)  # PGD training (4/255, 3 steps, half of each batch), fine-tuned from the above
    drive train-perception "${data[@]}" "${val[@]}" --out runs/perception-roads-pgd --epochs 3 \
      --batch-size 64 --width 8 --device cpu --seed 0 --init runs/perception-roads --select f1 \
      --learning-rate 0.0005 --pixels hue-blind --augment --augment-zoom 0 \
      --adversarial-epsilon 4 --adversarial-steps 3 --adversarial-share 0.5 ;;
  bench)
    for weights in perception/weights/stn-cnn runs/perception-roads runs/perception-roads-pgd runs/perception-roads-curves runs/perception-roads-wide runs/perception-roads-heading runs/perception-roads-turned runs/perception-roads-turned-weighted; do
      [ -f "$weights/best.safetensors" ] || continue
      # each network on the held-out frames of its own window (the others are refused)
      width=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['frame_spec']['width_px'])" "$weights/card.json")
      [ "$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['config']['frames']['width_px'])" "$root/test/highway/manifest.json")" = "$width" ] || continue
      drive bench perception --weights "$weights" --roads "$root"/test \
        --unseen-colours "$root"/test-unseen-colours --json "out/roads-$(basename "$weights").json"
    done ;;
esac
