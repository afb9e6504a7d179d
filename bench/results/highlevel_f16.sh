#!/usr/bin/env bash
# A fine-tuned low level as it would be shipped, and a high-level config that names it (used by the run scripts of
# achievement_weights/ and keyframe_weights/): <run dir>/steve1_crafter_latest.weights -> <run dir>/
# steve1_crafter_f16.weights, float16 as tasks/crafter/ship_models.sh ships weights (what is measured is what would
# be shipped), and a copy of configs/crafter/highlevel.yaml whose low level (in_weights, and the trunk's weights) is
# that file (bench/results/half_weights.sh).
#
#   bash bench/results/highlevel_f16.sh <run dir> <config out>
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: highlevel_f16.sh <run dir> <config out>" >&2; exit 2; }
[ -f "$1/steve1_crafter_latest.weights" ] || {
    echo "highlevel_f16.sh: no $1/steve1_crafter_latest.weights" >&2; exit 2; }
bash bench/results/half_weights.sh "$1/steve1_crafter_latest.weights" "$1/steve1_crafter_f16.weights"
sed -e "s#^in_weights: .*#in_weights: $1/steve1_crafter_f16.weights#" \
    -e "s#^weights: .*#weights: $1/steve1_crafter_f16.weights#" configs/crafter/highlevel.yaml > "$2"
