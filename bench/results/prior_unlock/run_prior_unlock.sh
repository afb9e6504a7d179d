#!/usr/bin/env bash
# A goal prior labelled with the chain's next link (issue 18, the prior-driven figure): the v6 prior's recipe
# (configs/crafter/goal_prior.yaml: same play data, split, codebook, trunk from the v6 low level, 300k frames) with
# relabeling next_unlock (steve1/data/minecraft_dataset.py: a frame's label is the code of the clip ending at the next
# first-time achievement within 100 frames, else its hindsight goal's), measured with the shipped v6 low level at the
# report's protocol: prior NLL on the 24 held-out player episodes, survival under the prior (20 worlds), prior-driven
# success (200 episodes per task and arm, seed 9001). Session 27 ran these commands (the two tasks side by side, one
# torch thread each).
#
# The measurement reads the v6 low level from downloads/crafter/ (highlevel_unlock.yaml): since models v7 shipped,
# restore v6 first (`git checkout 40adc4e -- downloads/crafter`; bench/results/README.md, "Which models a script
# measures"). Training reads only results/crafter/scratch/.
#
#   bash bench/results/prior_unlock/run_prior_unlock.sh [train|measure]
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/prior_unlock
W=results/crafter/prior_unlock
S=results/crafter/scratch
export OMP_NUM_THREADS=1
if [ "${1:-train}" = train ]; then
    OMP_NUM_THREADS=2 python goal_prior/train.py --config configs/crafter/goal_prior.yaml --sampling crafter_seed1 \
        --sampling_dir $S/samplings/ --codebook_path $S/work/codebook/tsne_n50_s1/centers.pkl \
        --in_model configs/crafter/vpt_small.yaml --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights \
        --out_weights $W/weights/goal_prior_crafter.weights --checkpoint_dir $W/training_checkpoint \
        --relabeling next_unlock --unlock_horizon 100
    cp $W/training_checkpoint/args.yaml $O/prior_args.yaml
fi
R=$(mktemp -d)
common=(--highlevel_config $O/highlevel_unlock.yaml --prior_args $W/training_checkpoint/args.yaml --threads 1)
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/pretraining_report.py "${common[@]}" --sections prior_driven_success --tasks $task \
        --task_episodes 200 --out_json $O/prior_driven_$task.json --readme "$R/$task.md" &
done
wait
python bench/pretraining_report.py "${common[@]}" --sections prior survival_under_prior --survival_worlds 20 \
    --out_json $O/prior_survival.json --readme "$R/prior.md"
rm -rf "$R"
