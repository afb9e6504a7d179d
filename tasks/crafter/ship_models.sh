#!/usr/bin/env bash
# Ship trained Crafter models to the paths configs/crafter/highlevel.yaml reads (stage 7 of train_pipeline.sh, also
# used on its own when the models come from another chain of training commands, e.g. a fine-tune):
#
#   bash tasks/crafter/ship_models.sh STEVE1_WEIGHTS STEVE1_ARGS PRIOR_WEIGHTS PRIOR_ARGS CODEBOOK_DIR TRAIN_LIST \
#       SHIP T0
#
#   STEVE1_WEIGHTS  low-level policy state_dict (steve1/train.py output)  -> SHIP/steve1_crafter.weights (float16)
#   STEVE1_ARGS     its resolved training arguments (<checkpoint_dir>/args.yaml) -> SHIP/steve1_crafter_args.yaml
#   PRIOR_WEIGHTS   goal prior state_dict (goal_prior/train.py output)  -> SHIP/goal_prior_crafter.weights (float16)
#   PRIOR_ARGS      its resolved training arguments                      -> SHIP/goal_prior_crafter_args.yaml
#   CODEBOOK_DIR    goal_prior/generate_codebook.py output (centers.pkl, codebook.json, tsne.png) -> SHIP/codebook/
#   TRAIN_LIST      the train split file (its episodes and frames are recorded in SHIP/pipeline.json)
#   SHIP            destination folder (downloads/crafter)
#   T0              unix time the invocation started (pipeline_seconds_this_invocation = now - T0)
#   EXTRA_JSON      optional: a JSON object whose keys are added to SHIP/pipeline.json (e.g. the seconds of earlier
#                   stages the shipped files depend on, "pipeline_seconds_<stage>", which pipeline_hours sums; a
#                   "models_version"; a "note"), read and checked before anything is shipped
#
# The architecture is configs/crafter/vpt_small.yaml (-> SHIP/steve1_crafter.yaml). Every file is written to
# <name>.tmp and renamed, so an interrupted ship leaves each file either old or new, never half-written.
# Writes SHIP/pipeline.json (sizes, the sizing variables of train_pipeline.sh, the CrafterCLIP md5, the time).
set -euo pipefail
if [[ $# -ne 8 && $# -ne 9 ]]; then
    echo "usage: bash tasks/crafter/ship_models.sh STEVE1_WEIGHTS STEVE1_ARGS PRIOR_WEIGHTS PRIOR_ARGS CODEBOOK_DIR" \
         "TRAIN_LIST SHIP T0 [EXTRA_JSON] (got $# arguments)" >&2
    exit 2
fi
STEVE1_FINAL=$1 STEVE1_ARGS=$2 PRIOR_FINAL=$3 PRIOR_ARGS=$4 CODEBOOK_DIR=$5 TRAIN_LIST=$6 SHIP=$7 T0=$8
EXTRA_JSON=${9:-}
for f in "$STEVE1_FINAL" "$STEVE1_ARGS" "$PRIOR_FINAL" "$PRIOR_ARGS" "$CODEBOOK_DIR/centers.pkl" \
         "$CODEBOOK_DIR/codebook.json" "$TRAIN_LIST" "$SHIP/crafterclip.pt" ${EXTRA_JSON:+"$EXTRA_JSON"}; do
    [[ -f "$f" ]] || { echo "ship_models.sh: $f does not exist" >&2; exit 2; }
done
if [[ -n "$EXTRA_JSON" ]]; then
    python -c "import json, sys; d = json.load(open(sys.argv[1])); isinstance(d, dict) or sys.exit(1)" \
        "$EXTRA_JSON" 2>/dev/null || { echo "ship_models.sh: EXTRA_JSON $EXTRA_JSON is not a JSON object" >&2; exit 2; }
fi
mkdir -p "$SHIP/codebook"
ship() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
# weights are stored as float16 (half the size; loading copies them into the float32 model)
ship_half() {
    python -c "import sys, torch; sd = torch.load(sys.argv[1], map_location='cpu', weights_only=True); \
torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, sys.argv[2])" "$1" "$2.tmp"
    mv "$2.tmp" "$2"
}
ship configs/crafter/vpt_small.yaml "$SHIP/steve1_crafter.yaml"
ship_half "$STEVE1_FINAL" "$SHIP/steve1_crafter.weights"
ship_half "$PRIOR_FINAL" "$SHIP/goal_prior_crafter.weights"
ship "$CODEBOOK_DIR/centers.pkl" "$SHIP/codebook/centers.pkl"
ship "$CODEBOOK_DIR/codebook.json" "$SHIP/codebook/codebook.json"
[[ -f "$CODEBOOK_DIR/tsne.png" ]] && ship "$CODEBOOK_DIR/tsne.png" "$SHIP/codebook/tsne.png"
ship "$STEVE1_ARGS" "$SHIP/steve1_crafter_args.yaml"
ship "$PRIOR_ARGS" "$SHIP/goal_prior_crafter_args.yaml"
python - "$SHIP" "$TRAIN_LIST" "$T0" "$EXTRA_JSON" <<'PY'
import hashlib, json, os, sys, time
from steve1.utils.io import atomic_write_json
ship, train_list, t0, extra = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
episodes = [l.strip() for l in open(train_list) if l.strip()]
frames = sum(int(open(os.path.join(e, "len.txt")).read().split()[0]) for e in episodes)
info = {"train_episodes": len(episodes), "train_frames": frames,
        "files": {f: os.path.getsize(os.path.join(ship, f)) for f in sorted(os.listdir(ship))
                  if os.path.isfile(os.path.join(ship, f))},
        "pipeline_seconds_this_invocation": round(time.time() - t0, 1),
        "sizing": {k: os.environ.get(k) for k in ("THREADS", "TRAIN_FRAMES", "VAL_FRAMES", "BC_FRAMES",
                                                   "UNLOCK_FRAMES", "PRIOR_FRAMES", "CLIP_STEPS", "TINY")},
        "crafterclip_md5": hashlib.md5(open(os.path.join(ship, "crafterclip.pt"), "rb").read()).hexdigest(),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
if extra:
    info.update(json.load(open(extra)))
atomic_write_json(os.path.join(ship, "pipeline.json"), info)
print(json.dumps(info, indent=2))
PY
du -sh "$SHIP"
