#!/usr/bin/env bash
# The whole Crafter pipeline from nothing, timed on one machine (session 25): the play data (configs/crafter/
# play_data.yaml, 1.2M frames, 2 workers), then tasks/crafter/train_pipeline.sh with every stage to run (split,
# CrafterCLIP, embedding, STEVE-1 BC, codebook, goal prior, ship) into results/crafter/scratch/ and the BC budget of
# models v5 (2.2M frames: v5's low level saw 600k + 100k + 3 x 500k in a chain of runs; here one run with
# configs/crafter/steve1.yaml's schedule). Every stage resumes when rerun.
#
#   bash bench/results/pipeline_scratch/run_pipeline_scratch.sh
#
# Times: results/crafter/scratch/times.json (play data) and results/crafter/scratch/ship/pipeline.json (the rest).
set -euo pipefail
cd "$(dirname "$0")/../../.."
S=results/crafter/scratch
mkdir -p "$S"
export OMP_NUM_THREADS=${THREADS:-2}
T0=$(date +%s)
python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir "$S/ds" \
    --num_frames 1200000 --workers 2
T1=$(date +%s)
python - "$S/times.json" "$((T1 - T0))" <<'PY'
import json, os, sys
path, sec = sys.argv[1], float(sys.argv[2])
times = json.load(open(path)) if os.path.exists(path) else {}
times.setdefault("play_data_seconds", sec)  # the invocation that completed the data (an interrupted one's part is not counted); a rerun keeps it
json.dump(times, open(path + ".tmp", "w"), indent=1); os.replace(path + ".tmp", path)
PY
DATA_DIR="$S/ds" WORK="$S/work" SHIP="$S/ship" SAMPLINGS="$S/samplings" BC_FRAMES=${BC_FRAMES:-2200000} \
    THREADS=${THREADS:-2} bash tasks/crafter/train_pipeline.sh
# the play data's seconds into the shipped record (pipeline_hours sums every pipeline_seconds_* key)
python - "$S/ship/pipeline.json" "$S/times.json" <<'PY'
import json, os, sys
path, times = sys.argv[1], json.load(open(sys.argv[2]))
rec = json.load(open(path))
rec["pipeline_seconds_play_data"] = times["play_data_seconds"]
rec["note"] = ("bench/results/pipeline_scratch/run_pipeline_scratch.sh: every stage from nothing on one machine "
               "(play data, split, CrafterCLIP, embedding, BC, codebook, goal prior, ship)")
json.dump(rec, open(path + ".tmp", "w"), indent=1); os.replace(path + ".tmp", path)
print(f"pipeline hours: {sum(v for k, v in rec.items() if k.startswith('pipeline_seconds')) / 3600:.2f}")
PY
