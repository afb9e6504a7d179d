#!/usr/bin/env bash
# A PTGM first look for a candidate's models: `ptgm`, 200k env steps, on crafter_iron and crafter_stone_pickaxe side
# by side (one torch thread each), seeds SEEDS (default 1), with a high-level config that names the candidate's files.
# Used by the run scripts of next_event/ and next_event_codebook/; compare
# ../prior_driven_knobs_v7/first_look_cs0/ (models v7, the same command). Resumes: bench/sample_efficiency.py skips
# finished runs and continues the others from their checkpoints.
#
#   SEEDS="1 2" bash bench/results/first_look.sh <highlevel config> <runs dir> <out dir> <models label>
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 4 ] || { echo "usage: first_look.sh <highlevel config> <runs dir> <out dir> <models label>" >&2; exit 2; }
read -r -a SEEDS <<< "${SEEDS:-1}"
OMP_NUM_THREADS=1 python bench/sample_efficiency.py --tasks crafter_iron crafter_stone_pickaxe --methods ptgm \
    --seeds "${SEEDS[@]}" --budget 200000 --jobs 2 --runs_dir "$2" --out_dir "$3" --models_label "$4" \
    --extra --highlevel_config "$1"
