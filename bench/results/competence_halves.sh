#!/usr/bin/env bash
# The pre-training report's competence for a candidate low level on ../pipeline_scratch/run_report.sh's protocol
# (selection on seed 9001, 40 test starts per link from seed 20001, horizon 200), in two halves side by side (one
# torch thread each), then the two halves' links merged into one file (pretraining_report.py --merge takes a section
# from one part only; each half's command is kept). Used by the run scripts of keyframe_weights/ and next_event/.
#
#   bash bench/results/competence_halves.sh <highlevel config> <low-level args.yaml> <work prefix> <out json>
#   bash bench/results/competence_halves.sh --merge <work prefix> <out json>     # merge the halves only
#
# The halves are written to <work prefix>_a.json / _b.json (logs beside them).
set -euo pipefail
cd "$(dirname "$0")/../.."
merge() {
    python - "$1_a.json" "$1_b.json" "$2" <<'PY'
import json, sys
from steve1.utils.io import atomic_write_json
a, b = (json.load(open(p)) for p in sys.argv[1:3])
out = {k: v for k, v in a.items() if k != "competence"}
out["command"] = [a["command"], b["command"]]
out["competence"] = {**a["competence"], **b["competence"]}
atomic_write_json(sys.argv[3], out)
PY
}
if [ "${1:-}" = --merge ]; then
    [ $# -eq 3 ] || { echo "usage: competence_halves.sh --merge <work prefix> <out json>" >&2; exit 2; }
    merge "$2" "$3"
    exit 0
fi
[ $# -eq 4 ] || {
    echo "usage: competence_halves.sh <highlevel config> <low-level args.yaml> <work prefix> <out json>" >&2; exit 2; }
HL=$1 ARGS=$2 P=$3 OUT=$4
export OMP_NUM_THREADS=1
COMP=(--sections competence --highlevel_config "$HL" --low_level_args "$ARGS" --player_episodes 80
      --max_episode_len 10000 --worlds 20 --screen_worlds 3 --top_codes 5 --test_episodes 200 --test_worlds 40
      --test_seed 20001 --horizon 200 --threads 1)
R=$(mktemp -d)
python bench/pretraining_report.py "${COMP[@]}" \
    --achievements collect_wood place_table make_wood_pickaxe collect_stone make_stone_pickaxe collect_coal \
    --out_json "${P}_a.json" --readme "$R/a.md" > "${P}_a.log" 2>&1 &
A=$!
python bench/pretraining_report.py "${COMP[@]}" \
    --achievements collect_drink eat_cow place_furnace collect_iron make_iron_pickaxe \
    --out_json "${P}_b.json" --readme "$R/b.md" > "${P}_b.log" 2>&1 &
B=$!
wait $A || { echo "competence_halves.sh: the first half failed (see ${P}_a.log)" >&2; wait $B; exit 1; }
wait $B || { echo "competence_halves.sh: the second half failed (see ${P}_b.log)" >&2; exit 1; }
rm -rf "$R"
merge "$P" "$OUT"
