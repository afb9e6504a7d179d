#!/usr/bin/env bash
# A weights file (a torch state dict) in float16, as tasks/crafter/ship_models.sh ships weights, so that what a run
# script measures is what would be shipped; written atomically. Used by highlevel_f16.sh and the run scripts of
# next_event/ and next_event_codebook/.
#
#   bash bench/results/half_weights.sh <weights in> <weights out>
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: half_weights.sh <weights in> <weights out>" >&2; exit 2; }
[ -f "$1" ] || { echo "half_weights.sh: no $1" >&2; exit 2; }
python -c "import sys, torch; sd = torch.load(sys.argv[1], map_location='cpu', weights_only=True); \
torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, sys.argv[2])" "$1" "$2.tmp"
mv "$2.tmp" "$2"
