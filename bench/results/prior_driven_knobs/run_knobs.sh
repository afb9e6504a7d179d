#!/usr/bin/env bash
# Is the prior-driven figure of issue 18 (codes drawn from the goal prior every low_level_steps, no RL, against the
# zero goal) missed because of how the shipped models v6 follow the codes, or because of the codes? Two knobs, each
# with the report's protocol for that figure (200 episodes per task and arm, seed 9001; the zero-goal arm does not
# depend on either knob): the low level's classifier-free guidance cond_scale (shipped 3.0; 0.0 is the plain
# conditional policy), and the softmax temperature at which codes are drawn from the prior (1.0: as trained), the
# latter also for survival under the prior (20 worlds); then with the codes labelled sleep / wake_up in codebook.json
# never drawn. Session 26 ran these commands (the cond_scale ones beside a BC run, niced; the others two at a time,
# one torch thread each).
#
#   bash bench/results/prior_driven_knobs/run_knobs.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/prior_driven_knobs
S=$(mktemp -d)
export OMP_NUM_THREADS=1
for cs in 0.0 1.0; do
    python bench/pretraining_report.py --sections prior_driven_success --cond_scale $cs --task_episodes 200 \
        --threads 1 --out_json $O/prior_driven_cs$cs.json --readme "$S/r$cs.md"
done
for t in 0.5 0.25; do
    python bench/pretraining_report.py --sections survival_under_prior prior_driven_success --prior_temperature $t \
        --survival_worlds 20 --task_episodes 200 --threads 1 --out_json $O/prior_t$t.json --readme "$S/t$t.md" &
done
wait
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/pretraining_report.py --sections prior_driven_success --tasks $task \
        --prior_exclude_labels sleep wake_up --task_episodes 200 --threads 1 \
        --out_json $O/prior_nosleep_$task.json --readme "$S/n$task.md" &
done
wait
rm -rf "$S"
