#!/usr/bin/env bash
# Keeping to the shelter (issue 18; session 42). From the state in which the scripted player has just sealed itself
# in on its first night, models v7's low level opens its own pocket within a median of 2 env steps, by `do`, in 29 of
# 37 worlds (zero goal), and dies in 14 (noop survives 36 of 37): bench/night_probe.py --starts sealed, step
# `probe_v7`. Its teacher also digs inside the pocket at night (player v8's night work: crafting, and digging
# through stone towards ore where the walls beyond are safe), a `do` whose safety the dark image barely shows. Does
# play data whose player waits or sleeps in its pocket until the morning (configs/crafter/play_data.yaml
# night_work: false) teach the low level to keep to it?
#
# Steps (W=results/crafter/s42, git-ignored; data, embed and low resume where they stopped when rerun: the generator
# and the embedding skip finished episodes, steve1/train.py continues from $W/low_*/ckpt; the probe steps run again,
# minutes each). The fine-tunes are measured in float32, not converted to float16 as ../highlevel_f16.sh does for
# candidates to ship (these are not); highlevel() below only points the shipped high-level config at them:
#   probe_v7   the night probe of the shipped models v7, sealed and shelter starts -> night_probe_sealed.json
#   data       ~400k frames of play data, seed 0, with night_work false -> $W/ds_quiet; and the control: links to
#              the first episodes of the same seed in the v6/v7 play data (results/crafter/scratch/ds, player v8
#              with night work; ../models_v8_candidate/run_candidate.sh prepare), as many as reach 400k frames ->
#              $W/ds_work. The generator is deterministic: both players play the same worlds with the same seeds
#              and differ from the first sealed night on
#   embed      each dataset's split and goal embeddings (tasks/crafter/train_pipeline.sh STOP_AFTER=embed, the
#              shipped CrafterCLIP)
#   low        models v7's low level (downloads/crafter, float16 as shipped) fine-tuned 200k frames on each, models
#              v7's fine-tune recipe otherwise (configs/crafter/steve1_unlock.yaml: next-unlock relabeling, lr
#              1e-4), one torch thread each, side by side -> $W/low_{quiet,work}
#   probe      the night probe (sealed and shelter starts, 40 held-out worlds, zero goal and prior codes) of both
#              -> night_probe_{quiet,work}.json
#   rest       survival under the prior (20 worlds) and the unconditional Crafter score (100 episodes) of both, the
#              report's protocol -> report_{quiet,work}.json
#   probe80    the night probe of both and of the shipped v7 (zero goal and prior codes, sealed and shelter starts)
#              on 80 held-out worlds (seed 9001's first 80; the first 40 are probe's) -> night_probe80_{quiet,work,v7}.json
#
#   bash bench/results/night_sealed/run_night_sealed.sh probe_v7 data embed low probe rest probe80
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/night_sealed
W=results/crafter/s42
S=results/crafter/scratch
FRAMES=${FRAMES:-400000}
FT_FRAMES=${FT_FRAMES:-200000}
export OMP_NUM_THREADS=1
[ $# -ge 1 ] || { echo "usage: run_night_sealed.sh probe_v7|data|embed|low|probe|rest|probe80 ..." >&2; exit 2; }
highlevel() {  # the shipped high-level config with low level $1
    sed -e "s#^in_weights: .*#in_weights: $1#" configs/crafter/highlevel.yaml > "$2"
}
for step in "$@"; do
    case $step in
    probe_v7)
        python bench/night_probe.py --episodes 40 --starts sealed shelter --conditions player noop zero prior \
            --out $O/night_probe_sealed.json ;;
    data)
        mkdir -p $W/ds_work
        python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir $W/ds_quiet \
            --num_frames "$FRAMES" --workers 2 --no-night_work
        python - "$S/ds" "$W/ds_work" "$FRAMES" <<'EOF'
import os, sys
src, dst, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
total, i = 0, 0
while total < frames:
    name = f"crafter_s0_{i:06d}"
    ep = os.path.join(src, name)
    total += int(open(os.path.join(ep, "len.txt")).read())
    if not os.path.lexists(os.path.join(dst, name)):
        os.symlink(os.path.realpath(ep), os.path.join(dst, name))
    i += 1
print(f"{dst}: {i} episodes, {total} frames")
EOF
        ;;
    embed)
        for v in quiet work; do
            mkdir -p $W/ship_$v
            cmp -s downloads/crafter/crafterclip.pt $W/ship_$v/crafterclip.pt \
                || cp downloads/crafter/crafterclip.pt $W/ship_$v/
            DATA_DIR=$W/ds_$v WORK=$W/work_$v SHIP=$W/ship_$v SAMPLINGS=$W/samplings_$v THREADS=2 \
                STOP_AFTER=embed bash tasks/crafter/train_pipeline.sh
        done ;;
    low)
        for v in quiet work; do
            python steve1/train.py --config configs/crafter/steve1_unlock.yaml \
                --in_weights downloads/crafter/steve1_crafter.weights --sampling crafter_seed1 \
                --sampling_dir $W/samplings_$v/ --n_frames "$FT_FRAMES" --num_workers 0 \
                --checkpoint_dir $W/low_$v/ckpt --out_weights $W/low_$v/steve1_crafter.weights \
                > $W/low_$v.log 2>&1 &
        done
        wait
        for v in quiet work; do cp $W/low_$v/ckpt/args.yaml $O/steve1_args_$v.yaml; done ;;
    probe)
        for v in quiet work; do
            highlevel $W/low_$v/steve1_crafter_latest.weights $W/highlevel_$v.yaml
            python bench/night_probe.py --highlevel_config $W/highlevel_$v.yaml --episodes 40 \
                --starts sealed shelter --conditions zero prior --out $O/night_probe_$v.json > $W/probe_$v.log 2>&1 &
        done
        wait ;;
    rest)
        for v in quiet work; do
            R=$(mktemp -d)
            python bench/pretraining_report.py --sections survival_under_prior unconditional_bc_crafter_score \
                --highlevel_config $W/highlevel_$v.yaml --low_level_args $W/low_$v/ckpt/args.yaml \
                --survival_worlds 20 --score_episodes 100 --threads 1 --out_json $O/report_$v.json \
                --readme "$R/r.md" > $W/rest_$v.log 2>&1 &
        done
        wait ;;
    probe80)
        cp configs/crafter/highlevel.yaml $W/highlevel_v7.yaml
        for v in quiet work v7; do
            [ $v = v7 ] || highlevel $W/low_$v/steve1_crafter_latest.weights $W/highlevel_$v.yaml
            python bench/night_probe.py --highlevel_config $W/highlevel_$v.yaml --episodes 80 \
                --starts sealed shelter --conditions zero prior --out $O/night_probe80_$v.json > $W/probe80_$v.log 2>&1 &
        done
        wait ;;
    *) echo "run_night_sealed.sh: unknown step '$step' (probe_v7, data, embed, low, probe, rest, probe80)" >&2
       exit 2 ;;
    esac
done
