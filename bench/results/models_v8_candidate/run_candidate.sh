#!/usr/bin/env bash
# Models v8 candidate (issue 18; session 30): the low level fine-tuned towards the next unlock within 300 frames
# instead of 100 (the fine-tune of ../unlock_horizon/, which had the highest competence sum, 7.15, and the best zero
# goal on crafter_iron, 0.130, but no prior of its own labels), and a goal prior trained on the same labels
# (configs/crafter/goal_prior.yaml with unlock_horizon 300). Everything else is models v7's: CrafterCLIP, the codebook,
# the v6 low level as the fine-tune's start and the prior's trunk, the play data and split.
#
# Steps (each resumes when rerun; THREADS torch threads per trainer, default 1):
#   prepare   the play data (configs/crafter/play_data.yaml, 1.2M frames: the generator is deterministic, so these are
#             v6's and v7's frames), the split and the goal embeddings with the shipped CrafterCLIP (stages 1 and 3 of
#             tasks/crafter/train_pipeline.sh, STOP_AFTER=embed), and, as stage 4's output, the shipped v6 low level
#             (float16 weights of commit 40adc4e; the pipeline would start from its float32 original) and the shipped
#             codebook, all under results/crafter/scratch/
#   low       bash ../unlock_low_level/finetune.sh 300 (500k frames, configs/crafter/steve1_unlock.yaml)
#   prior     goal_prior/train.py with relabeling next_unlock, unlock_horizon 300 (300k frames)
#   measure   bench/pretraining_report.py with the candidate: prior NLL, survival under the prior (20 worlds),
#             prior-driven success (200 episodes per task and arm, seed 9001) -> measure.json, at cond_scale 3 (the
#             value shipped when it ran; the config has 0 since)
#
#   bash bench/results/models_v8_candidate/run_candidate.sh prepare low prior measure
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/models_v8_candidate
S=results/crafter/scratch
W=results/crafter/v8_candidate
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS
[ $# -ge 1 ] || { echo "usage: run_candidate.sh prepare|low|prior|measure ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    prepare)
        # resumes an unfinished dataset; a finished one is left as it is
        python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir $S/ds \
            --num_frames 1200000 --workers 2
        # stages 1 and 3 of the pipeline (the split; the embeddings), with the shipped CrafterCLIP so that stage 2
        # (training one) is skipped
        mkdir -p $S/ship
        cmp -s downloads/crafter/crafterclip.pt $S/ship/crafterclip.pt || cp downloads/crafter/crafterclip.pt $S/ship/
        DATA_DIR=$S/ds WORK=$S/work SHIP=$S/ship SAMPLINGS=$S/samplings THREADS=$THREADS STOP_AFTER=embed \
            bash tasks/crafter/train_pipeline.sh
        mkdir -p $S/work/steve1/weights $S/work/codebook/tsne_n50_s1
        git show 40adc4e:downloads/crafter/steve1_crafter.weights > $S/work/steve1/weights/steve1_crafter_latest.weights
        cp downloads/crafter/codebook/* $S/work/codebook/tsne_n50_s1/ ;;
    low)
        THREADS=$THREADS bash bench/results/unlock_low_level/finetune.sh 300 $W/low $O/steve1_args.yaml ;;
    prior)
        python goal_prior/train.py --config configs/crafter/goal_prior.yaml --sampling crafter_seed1 \
            --sampling_dir $S/samplings/ --codebook_path $S/work/codebook/tsne_n50_s1/centers.pkl \
            --in_model configs/crafter/vpt_small.yaml \
            --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights \
            --out_weights $W/prior/weights/goal_prior_crafter.weights --checkpoint_dir $W/prior/training_checkpoint \
            --relabeling next_unlock --unlock_horizon 300
        cp $W/prior/training_checkpoint/args.yaml $O/prior_args.yaml ;;
    measure)
        sed -e "s#^in_weights: .*#in_weights: $W/low/steve1_crafter_latest.weights#" \
            -e "s#^weights: .*#weights: $W/low/steve1_crafter_latest.weights#" \
            -e "s#^prior_weights: .*#prior_weights: $W/prior/weights/goal_prior_crafter_latest.weights#" \
            configs/crafter/highlevel.yaml > $W/highlevel.yaml
        cp $W/highlevel.yaml $O/highlevel_v8_candidate.yaml
        R=$(mktemp -d)
        python bench/pretraining_report.py --highlevel_config $W/highlevel.yaml --low_level_args $W/low/ckpt/args.yaml \
            --prior_args $W/prior/training_checkpoint/args.yaml --cond_scale 3.0 \
            --sections prior survival_under_prior prior_driven_success --survival_worlds 20 --task_episodes 200 \
            --threads 1 --out_json $O/measure.json --readme "$R/r.md"
        rm -rf "$R" ;;
    *) echo "run_candidate.sh: unknown step '$step' (prepare, low, prior, measure)" >&2; exit 2 ;;
    esac
done
