#!/usr/bin/env bash
# Models v8 candidate (issue 18; session 38): models v7's recipe for the low level (the next-unlock fine-tune of the
# v6 low level, configs/crafter/steve1_unlock.yaml: 500k frames at 1e-4, unlock_horizon 100) with one change, the
# BC loss weight of the 3 frames ending at each action that collected coal, iron or diamond, made a stone or iron
# pickaxe or placed a furnace, x7.4 (achievement_loss_weights in steve1_unlock_achievement_weights.yaml here;
# steve1/data/minecraft_dataset.py, "Achievement loss weights"). Why: from the report's test starts the low level came
# next to coal or iron without turning to it and pressing do, and stood by a table without crafting
# (bench/results/README.md, "Why the late links miss"). The goal prior, codebook and CrafterCLIP stay models v7's.
#
# Steps (each resumes when rerun; THREADS torch threads per process, default 2 for the fine-tune):
#   prepare   the play data, split, goal embeddings, the v6 low level and the codebook under results/crafter/scratch/
#             (../models_v8_candidate/run_candidate.sh prepare). Nearly v6's and v7's data: the generator is
#             deterministic, but which episodes have finished at the 1.2M-frame cut varies with the two workers'
#             timing, and the split drawn from them did too (session 38: 1,534 train / 32 val episodes, 1,175,842
#             train frames; v6: 1,537 / 24, 1,175,629), hence the control
#   low       ../unlock_low_level/finetune.sh 100 with this folder's config -> results/crafter/v8_achw/low/
#   control   the same fine-tune without achievement_loss_weights (configs/crafter/steve1_unlock.yaml as it is)
#             -> results/crafter/v8_achw/control/: models v7's recipe rerun on the same start, data and split
#   measure   the pre-training report on the candidate (../pipeline_scratch/run_report.sh's protocol and its two
#             parts side by side: competence on the selection starts of seed 9001 and the test starts of seed 20001,
#             and every other figure) -> pretraining.json and report_section.md here, parts in pretraining_parts/
#   measure_control  the control's competence on the same protocol -> competence_control.json here
#
#   bash bench/results/achievement_weights/run_achievement_weights.sh prepare
#   THREADS=1 bash .../run_achievement_weights.sh low & THREADS=1 bash .../run_achievement_weights.sh control; wait
#   bash .../run_achievement_weights.sh measure & bash .../run_achievement_weights.sh measure_control; wait
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/achievement_weights
W=results/crafter/v8_achw
THREADS=${THREADS:-2}
[ $# -ge 1 ] || {
    echo "usage: run_achievement_weights.sh prepare|low|control|measure|measure_control ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    prepare)
        THREADS=1 bash bench/results/models_v8_candidate/run_candidate.sh prepare ;;
    low)
        CONFIG=$O/steve1_unlock_achievement_weights.yaml THREADS=$THREADS \
            bash bench/results/unlock_low_level/finetune.sh 100 $W/low $O/steve1_args.yaml ;;
    control)
        # models v7's recipe on the same start, data, split and seed, without achievement_loss_weights: how much of a
        # difference from v7 is the weights' and how much a second run's
        THREADS=$THREADS bash bench/results/unlock_low_level/finetune.sh 100 $W/control $O/steve1_args_control.yaml ;;
    measure_control)
        bash bench/results/highlevel_f16.sh $W/control $W/highlevel_control.yaml
        R=$(mktemp -d)
        OMP_NUM_THREADS=1 python bench/pretraining_report.py --sections competence --highlevel_config \
            $W/highlevel_control.yaml --low_level_args $W/control/ckpt/args.yaml --player_episodes 80 \
            --max_episode_len 10000 --worlds 20 --screen_worlds 3 --top_codes 5 --test_episodes 200 \
            --test_worlds 40 --test_seed 20001 --horizon 200 --threads 1 --out_json $O/competence_control.json \
            --readme "$R/c.md" > $W/competence_control.log 2>&1
        rm -rf "$R" ;;
    measure)
        bash bench/results/highlevel_f16.sh $W/low $W/highlevel.yaml
        cp $W/highlevel.yaml $O/highlevel_v8_candidate.yaml
        export OMP_NUM_THREADS=1
        P=$O/pretraining_parts
        mkdir -p $P
        # ../pipeline_scratch/run_report.sh's protocol and split, on the candidate
        COMMON=(--highlevel_config $W/highlevel.yaml --low_level_args $W/low/ckpt/args.yaml --player_episodes 80
                --max_episode_len 10000 --worlds 20 --screen_worlds 3 --top_codes 5 --test_episodes 200
                --test_worlds 40 --test_seed 20001 --horizon 200 --survival_worlds 20 --task_episodes 200
                --score_episodes 100 --threads 1)
        R=$(mktemp -d)
        python bench/pretraining_report.py --sections competence "${COMMON[@]}" --out_json $P/part_competence.json \
            --readme "$R/a.md" > $W/part_competence.log 2>&1 &
        python bench/pretraining_report.py --sections player goal_information prior survival_under_prior \
            prior_driven_success unconditional_bc_crafter_score pipeline_hours "${COMMON[@]}" \
            --out_json $P/part_rest.json --readme "$R/b.md" > $W/part_rest.log 2>&1 &
        wait
        python bench/pretraining_report.py --merge $P/part_competence.json $P/part_rest.json \
            --out_json $O/pretraining.json --readme "$R/merged.md"
        cp "$R/merged.md" $O/report_section.md
        rm -rf "$R" ;;
    *) echo "run_achievement_weights.sh: unknown step '$step' (prepare, low, control, measure, measure_control)" >&2
       exit 2 ;;
    esac
done
