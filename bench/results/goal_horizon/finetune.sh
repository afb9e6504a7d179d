#!/bin/bash
# ft.sh NAME MIN MAX : v4 candidate + 100k frames, weights 1, goal_lead 16, gaps [MIN, MAX)
cd /work/main; . .venv/bin/activate; export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
N=$1; O=/tmp/hz/$N
python steve1/train.py --config /tmp/hz/steve1_w1.yaml --in_weights results/crafter/steve1/weights/steve1_crafter_latest.weights \
  --n_frames 100000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
  --min_btwn_goals $2 --max_btwn_goals $3 --goal_lead 16 \
  --checkpoint_dir $O/ckpt --out_weights $O/steve1_crafter.weights > $O.log 2>&1
cp $O/ckpt/args.yaml $O/steve1_crafter_latest_args.yaml
echo done > $O.done
