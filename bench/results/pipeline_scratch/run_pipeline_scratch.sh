#!/usr/bin/env bash
# The whole Crafter pipeline from nothing, timed on one machine (session 25; the models shipped as v6): the play data
# (configs/crafter/play_data.yaml, 1.2M frames, 2 workers), then tasks/crafter/train_pipeline.sh with every stage to
# run (split, CrafterCLIP, embedding, STEVE-1 BC, codebook, goal prior, ship) into results/crafter/scratch/, 2.2M BC
# frames (configs/crafter/steve1.yaml's n_frames; v5's low level saw 600k + 100k + 3 x 500k in a chain of runs).
# Every stage resumes when rerun.
#
#   bash bench/results/pipeline_scratch/run_pipeline_scratch.sh
#
# Times: results/crafter/scratch/ship/pipeline.json (pipeline_seconds_play_data from this script,
# pipeline_seconds_this_invocation from train_pipeline.sh); per stage: the [pipeline HH:MM:SS] lines of its output.
set -euo pipefail
cd "$(dirname "$0")/../../.."
S=results/crafter/scratch
mkdir -p "$S"
export OMP_NUM_THREADS=${THREADS:-2}
T0=$(date +%s)
python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir "$S/ds" \
    --num_frames 1200000 --workers 2
# the play data's seconds for ship_models.sh's record (pipeline_hours sums every pipeline_seconds_* key): those of
# the invocation that completed the data (an interrupted one's part is not counted); a rerun keeps them
python - "$S/pipeline_extra.json" "$(($(date +%s) - T0))" <<'PY'
import json, os, sys
path, sec = sys.argv[1], float(sys.argv[2])
extra = json.load(open(path)) if os.path.exists(path) else {}
extra.setdefault("pipeline_seconds_play_data", sec)
extra["note"] = ("bench/results/pipeline_scratch/run_pipeline_scratch.sh: every stage from nothing on one machine "
                 "(play data, split, CrafterCLIP, embedding, BC, codebook, goal prior, ship)")
json.dump(extra, open(path + ".tmp", "w"), indent=1); os.replace(path + ".tmp", path)
PY
DATA_DIR="$S/ds" WORK="$S/work" SHIP="$S/ship" SAMPLINGS="$S/samplings" PIPELINE_EXTRA="$S/pipeline_extra.json" \
    THREADS=${THREADS:-2} bash tasks/crafter/train_pipeline.sh
