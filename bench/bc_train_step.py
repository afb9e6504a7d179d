"""CPU speed and memory of one behaviour-cloning window step of the goal-conditioned policy (steve1/train.py).

Two measurements (random weights and data; the model code is the real one, ``steve1.bc_trainer.BehaviourCloningLoss``
+ ``configure_optimizer``):

* ``--mode speed``: frames per second of the training step (forward + backward + AdamW) over windows of
  ``--batch`` x ``--trunc-t`` frames with the recurrent state carried, median over ``--steps`` steps after
  ``--warmup``; optionally under bf16 autocast (what ``accelerate launch --mixed_precision bf16`` does).
  Data loading is not included (the DataLoader worker runs beside the trainer).
* ``--mode memory``: bytes that autograd saves for the backward pass (activations) for a window of
  ``--batch`` x ``t`` frames for each ``t`` of ``--lengths``, counted exactly with
  ``torch.autograd.graph.saved_tensors_hooks`` (storages counted once, parameters excluded), plus parameters,
  gradients and AdamW moments; ``--extrapolate B T`` predicts a ``B x T`` window linearly from the marginal bytes
  per frame of the last two lengths (e.g. VPT-2x at 4 x 64). Peak memory of a real step is about parameters +
  gradients + optimiser state + activations (+ allocator slack and temporaries).

    python bench/bc_train_step.py --model configs/crafter/vpt_small.yaml --threads 1
    python bench/bc_train_step.py --model 2x --action-space minerl --mode memory --batch 1 --lengths 2 4 --extrapolate 4 64

``--model`` is a ``.model``/YAML config, ``2x`` (VPT-2x hyperparameters of ``VPT.agent.POLICY_KWARGS``) or ``tiny``.
Timings swing 5-10x when another process uses a core: quote figures from an idle machine, with the thread count.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from gymnasium import spaces

from VPT.agent import PI_HEAD_KWARGS, POLICY_KWARGS
from VPT.lib.action_mapping import CameraHierarchicalMapping
from VPT.lib.loading import load_model_config
from steve1.embed_conditioned_policy import GoalConditionedAgentPolicy
from steve1.bc_trainer import BehaviourCloningLoss, configure_optimizer

TINY = dict(attention_heads=2, attention_mask_style="clipped_causal", attention_memory_size=24, hidsize=32,
            img_shape=[16, 16, 3], impala_chans=[4, 8, 8], impala_kwargs={"post_pool_groups": 1}, impala_width=1,
            init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1}, n_recurrence_layers=1,
            only_img_input=True, pointwise_ratio=2, pointwise_use_activation=False, recurrence_is_residual=True,
            recurrence_type="transformer", timesteps=8, use_pointwise_layer=True, use_pre_lstm_ln=False)


def build(model: str, goal_dim: int, action_space: str):
    if model == "2x":
        policy_kwargs, pi_head_kwargs = dict(POLICY_KWARGS), dict(PI_HEAD_KWARGS)
    elif model == "tiny":
        policy_kwargs, pi_head_kwargs = dict(TINY), {"temperature": 1.0}
    else:
        policy_kwargs, pi_head_kwargs = load_model_config(model)
    if action_space == "minerl":
        space = CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()
    else:
        space = spaces.Discrete(int(action_space))
    return GoalConditionedAgentPolicy(space, policy_kwargs, pi_head_kwargs, goal_dim=goal_dim)


def random_window(policy, batch: int, t: int, goal_dim: int):
    h, w, c = policy.net.img_shape
    obs = {"img": torch.randint(0, 256, (batch, t, h, w, c), dtype=torch.uint8),
           "mineclip_embed": torch.randn(batch, t, goal_dim)}
    first = torch.zeros(batch, t, dtype=torch.bool)
    space = policy.action_space
    if isinstance(space, spaces.Dict):
        actions = {k: torch.randint(0, s.n, (batch, t, 1)) for k, s in space.spaces.items()}
    else:
        actions = torch.randint(0, space.n, (batch, t, 1))
    return obs, first, actions


def speed(args, policy) -> dict:
    model = BehaviourCloningLoss(policy)
    optimizer = configure_optimizer(model, 1e-4, 0.039428)
    obs, first, actions = random_window(policy, args.batch, args.trunc_t, args.goal_dim)
    state = policy.initial_state(args.batch)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, state = model(obs, first, actions, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        state = [(m, (k.detach(), v.detach())) for m, (k, v) in state]
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"ms_per_step": 1000 * med, "frames_per_s": args.batch * args.trunc_t / med,
            "min_ms": 1000 * min(times), "max_ms": 1000 * max(times)}


def saved_activation_bytes(policy, batch: int, t: int, goal_dim: int, bf16: bool) -> int:
    """Bytes autograd saves for backward in one window (shared storages counted once)."""
    model = BehaviourCloningLoss(policy)
    obs, first, actions = random_window(policy, batch, t, goal_dim)
    state = policy.initial_state(batch)
    seen, total = set(), [0]

    def pack(x):
        if isinstance(x, torch.Tensor):
            storage = x.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in seen and not isinstance(x, torch.nn.Parameter):
                seen.add(key)
                total[0] += storage.nbytes()
        return x

    seen.update((p.untyped_storage().data_ptr(), p.untyped_storage().nbytes()) for p in policy.parameters())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = model(obs, first, actions, state)
    del loss
    return total[0]


def memory(args, policy) -> dict:
    n_params = sum(p.numel() for p in policy.parameters())
    n_trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    out = {"parameters": n_params, "params_bytes_fp32": 4 * n_params, "grads_bytes_fp32": 4 * n_trainable,
           "adamw_bytes_fp32": 8 * n_trainable}
    lengths = sorted(set(args.lengths or [args.trunc_t]))
    measured = {}
    for t in lengths:
        measured[t] = saved_activation_bytes(policy, args.batch, t, args.goal_dim, args.bf16)
        out[f"activations_bytes_{args.batch}x{t}"] = measured[t]
    if args.extrapolate and len(lengths) >= 2:
        # linear in frames from the last two lengths: the marginal cost of a frame (image encoder, MLPs and the
        # attention over the memory + the window grow with it; the window's own t^2 part is small at these sizes)
        t1, t2 = lengths[-2], lengths[-1]
        per_frame = (measured[t2] - measured[t1]) / (args.batch * (t2 - t1))
        fixed = measured[t2] - per_frame * args.batch * t2
        big_b, big_t = args.extrapolate
        out["marginal_bytes_per_frame"] = per_frame
        out[f"predicted_activations_bytes_{big_b}x{big_t}"] = fixed + per_frame * big_b * big_t
    return out


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a missing or unreadable model config, an action space that is
    neither 'minerl' nor a count, a size out of range, an unusable ``--output``) ends the program with one line on
    stderr naming the flag, and exit code 2, before anything is measured or written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("bc_train_step.py", lambda: _main(argv))


def _main(argv) -> dict:
    from steve1.utils.checks import Range, check_input_file, check_output_path, check_ranges, check_value
    from steve1.utils.cli import UsageError

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="configs/crafter/vpt_small.yaml", help=".model/YAML config, '2x' or 'tiny'")
    p.add_argument("--action-space", default="17", help="'minerl' or the n of Discrete(n)")
    p.add_argument("--goal-dim", type=int, default=512)
    p.add_argument("--mode", choices=["speed", "memory"], default="speed")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--trunc-t", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (accelerate --mixed_precision bf16)")
    p.add_argument("--lengths", type=int, nargs="+", default=None,
                   help="memory mode: window lengths to measure (default: --trunc-t)")
    p.add_argument("--extrapolate", type=int, nargs=2, metavar=("B", "T"), default=None,
                   help="memory mode: predict the activations of a B x T window from the last two --lengths")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    where = {"goal_dim": "--goal-dim", "trunc_t": "--trunc-t"}
    check_ranges(args, {"goal_dim": Range(int, lo=1), "batch": Range(int, lo=1, note="chunks"),
                        "trunc_t": Range(int, lo=1, note="frames"), "steps": Range(int, lo=1),
                        "warmup": Range(int, lo=0), "threads": Range(int, lo=1)}, where)
    for length in args.lengths or []:
        check_value(length, "lengths", Range(int, lo=1, note="frames"))
    if args.extrapolate is not None:
        for v in args.extrapolate:
            check_value(v, "extrapolate", Range(int, lo=1, note="B and T"))
        if len(args.lengths or []) < 2:
            raise UsageError(f"--extrapolate {args.extrapolate[0]} {args.extrapolate[1]}: needs at least two --lengths "
                             f"to extrapolate from, got {args.lengths}")
    if args.action_space != "minerl" and not (args.action_space.isdigit() and int(args.action_space) >= 1):
        raise UsageError(f"--action-space: expected 'minerl' or a number of discrete actions >= 1, got "
                         f"{args.action_space!r}")
    if args.model not in ("2x", "tiny"):
        check_input_file(args.model, "--model", "a .model pickle or a YAML config, or '2x' or 'tiny'")
        try:
            load_model_config(args.model)
        except ValueError as e:
            raise UsageError(f"--model: {e}") from e
    if args.output:
        check_output_path(args.output, "--output")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    policy = build(args.model, args.goal_dim, args.action_space)
    result = {"model": args.model, "batch": args.batch, "trunc_t": args.trunc_t, "threads": args.threads,
              "bf16": args.bf16, "parameters": sum(p.numel() for p in policy.parameters())}
    result.update(speed(args, policy) if args.mode == "speed" else memory(args, policy))
    for k, v in result.items():
        print(f"{k}: {v:,.1f}" if isinstance(v, float) else f"{k}: {v}")
    if args.output:
        from steve1.utils.io import atomic_write_json

        atomic_write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
