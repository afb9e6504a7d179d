#!/usr/bin/env bash
# Session 35: does a smaller codebook let PTGM's high level learn where 50 codes do not? With 50 codes, a decision
# every 20 env steps and crafter_coal's sparse reward, ptgm / ptgm_no_prior wander onto other codes per seed and do not
# rise over 400k env steps (../benchmark_v7/coal/, section "The high level moves" of ../README.md), although one code
# held all episode (15) gives 0.40 against 0.265 for uniform codes. Here the models v7 low level is unchanged; only the
# codebook is rebuilt with fewer codes, by configs/crafter/codebook.yaml's recipe (balanced point sampling, t-SNE,
# k-means, each code a real goal embedding) on the shipped CrafterCLIP's embeddings of 150 play episodes (the first
# 150 of the shipped dataset's seeds, player v8; the shipped codebook drew its 100 from all 1,537, so a 50-code
# codebook is rebuilt from these episodes too, as the control). ptgm_no_prior is the method (the goal prior is
# trained on the shipped 50 codes; ptgm and ptgm_no_prior did not differ on crafter_coal: Welch p 0.93).
#   bash bench/results/codebook_size/run_codebook_size.sh [data|codebooks|held|uniform50|rl|report|summary ...]
# with the venv active. K (codebook sizes, default "10"), SEEDS (default "1 2 3"), BUDGET (env steps, 400000),
# JOBS (runs at a time, 2) size the held and rl steps; every step resumes (existing outputs are kept, runs continue
# from their newest checkpoint). The play data, split, embeddings and runs live in results/codebook_size/
# (git-ignored); the codebooks' centers.pkl and codebook.json are copied here (small), so that the rl and held steps
# run without the data. Session 35 ran: data codebooks; SEEDS="1 2" ... rl (beside K=10 ... held); K=10 SEEDS=3 JOBS=1
# ... rl and K=25 SEEDS=1 JOBS=1 ... rl (seeds 2 and 3 then in their own invocations, JOBS=1); K=25 ... held;
# uniform50; K=10 ... report; K=25 ... report; summary.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(data codebooks held uniform50 rl report summary)
read -r -a KS <<< "${K:-10}"
read -r -a SEEDS <<< "${SEEDS:-1 2 3}"
HERE=bench/results/codebook_size
WORK=results/codebook_size
highlevel_yaml() {  # the shipped high-level config with codebook K's centers
  local k=$1 out=$WORK/highlevel_n$1.yaml
  sed "s|^codebook: .*|codebook: $HERE/tsne_n${k}_s1/centers.pkl   # session 35: codebook size probe|" \
    configs/crafter/highlevel.yaml > "$out"
  grep -q "^codebook: $HERE/tsne_n${k}_s1/centers.pkl" "$out" ||
    { echo "highlevel_yaml: the codebook key of configs/crafter/highlevel.yaml was not replaced" >&2; exit 1; }
  echo "$out"
}
for step in "${STEPS[@]}"; do
  case "$step" in
    data)       # the first 150 episodes of the shipped play dataset's seeds, a split of them, CrafterCLIP embeddings
      [ -f $WORK/ds/crafter_s0_000149/metadata.json ] || python tasks/crafter/generate_play_data.py \
        --config configs/crafter/play_data.yaml --out_dir $WORK/ds --num_episodes 150 --workers 2
      [ -f $WORK/samplings/cb150_train.txt ] || python -m steve1.data.sampling.generate_sampling \
        --config configs/crafter/sampling.yaml --data_dir $WORK/ds --name cb150 --output_dir $WORK/samplings \
        --val_frames 3000 --allow_missing_embeds
      mkdir -p $WORK/links
      cat $WORK/samplings/cb150_train.txt $WORK/samplings/cb150_val.txt | while read -r ep; do
        ln -sfn "$(realpath "$ep")" "$WORK/links/$(basename "$ep")"; done
      python -m steve1.data.generation.embed_episodes --embedder crafterclip \
        --weights downloads/crafter/crafterclip.pt --data_dir $WORK/links --torch_threads 2 ;;
    codebooks)  # 10, 25 and 50 codes from the same 100 episodes (configs/crafter/codebook.yaml, --n_codebook only)
      for k in 10 25 50; do
        [ -f $WORK/codebook/tsne_n${k}_s1/centers.pkl ] || python goal_prior/generate_codebook.py \
          --config configs/crafter/codebook.yaml --sampling cb150 --sampling_dir $WORK/samplings/ \
          --output_dir $WORK/codebook/ --n_codebook $k --no_progress
        mkdir -p $HERE/tsne_n${k}_s1
        cp $WORK/codebook/tsne_n${k}_s1/{centers.pkl,codebook.json} $HERE/tsne_n${k}_s1/
      done ;;
    held)       # with no RL: uniform codes every 20 env steps, and each code held for whole episodes (100 worlds)
      for k in "${KS[@]}"; do
        cfg=$(highlevel_yaml "$k")
        [ -f $HERE/held_n$k.json ] || python bench/chain_oracle.py --highlevel_config "$cfg" \
          --tasks crafter_coal --arms uniform fixed --fixed_codes $(seq 0 $((k - 1))) --episodes 100 --threads 1 \
          --out $HERE/held_n$k.json
      done ;;
    uniform50)  # uniform codes only, with the rebuilt 50 codes and with the shipped codebook, on the same 100 worlds
      cfg=$(highlevel_yaml 50)
      [ -f $HERE/held_n50_uniform.json ] || python bench/chain_oracle.py --highlevel_config "$cfg" \
        --tasks crafter_coal --arms uniform --episodes 100 --threads 1 --out $HERE/held_n50_uniform.json
      [ -f $HERE/held_shipped_uniform.json ] || python bench/chain_oracle.py --tasks crafter_coal --arms uniform \
        --episodes 100 --threads 1 --out $HERE/held_shipped_uniform.json ;;
    rl)         # ptgm_no_prior on crafter_coal, each codebook its own runs folder
      for k in "${KS[@]}"; do
        python bench/sample_efficiency.py --tasks crafter_coal --methods ptgm_no_prior --seeds "${SEEDS[@]}" \
          --budget "${BUDGET:-400000}" --jobs "${JOBS:-2}" --runs_dir results/bench_v7_cs0_coal_n$k \
          --out_dir $HERE/coal_n$k --models_label v7_cs0_n$k --extra --codebook $HERE/tsne_n${k}_s1/centers.pkl
      done ;;
    report)     # success early and late, and the codes picked at the first and last checkpoints
      for k in "${KS[@]}"; do
        python bench/early_late.py --runs_dir results/bench_v7_cs0_coal_n$k --max_env_steps "${BUDGET:-400000}" \
          --early 100000 --late 100000 --out $HERE/coal_n$k/early_late.json
        python bench/code_usage.py --runs_dir results/bench_v7_cs0_coal_n$k --tasks crafter_coal \
          --out $HERE/coal_n$k/code_usage.json
      done ;;
    summary)    # the table of bench/results/README.md's section "Fewer codes"
      python $HERE/summarize.py ;;
    *) echo "run_codebook_size.sh: unknown step '$step' (data, codebooks, held, uniform50, rl, report, summary)" >&2
       exit 2 ;;
  esac
done
