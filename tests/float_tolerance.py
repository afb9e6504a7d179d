"""Tolerances for comparing two float32 computations of the same value, derived from the computation.

Two equivalent computations (a batch of 3 vs three batches of 1, a chunk vs one frame at a time, a convolution in
one pass vs several) run different kernels: PyTorch and oneDNN pick them by CPU capability (``ATEN_CPU_CAPABILITY``
= default / avx2 / avx512, ``ONEDNN_MAX_CPU_ISA``) and by tensor shape, and each kernel sums in its own order. So
the two results agree only up to float32 rounding, and by how much depends on the CPU. A tolerance must hold on
every CPU and still catch a real bug (a wrong mask or state moves values by O(their size), not by a few ulps).

The bound used here: a sum of ``K`` terms of size at most ``scale``, reordered, differs by about
``eps * sqrt(K) * scale`` (the roundings of a sum add up like a random walk; ``eps`` = 2**-23); a network of
``depth`` such reductions in a row is a walk of ``depth * K`` roundings relative to the size of the values (layers
that do not amplify), so ``eps * sqrt(depth * K) * scale``; a known amplification downstream (``gain``, e.g.
classifier-free guidance ``(1 + s) * cond - s * uncond`` multiplies the errors of its inputs by up to ``1 + 2 s``)
multiplies it; ``sigmas`` = 4 standard deviations of the walk make it a bound a correct implementation does not
cross. Measured on an AMD EPYC (AVX2) under ``ATEN_CPU_CAPABILITY=default`` and ``avx2`` and
``ONEDNN_MAX_CPU_ISA=SSE41``: the largest differences were 3-10x below these bounds.
"""
from __future__ import annotations

import math

import torch

__all__ = ["EPS32", "reorder_atol", "assert_reordered_close", "value_term_scale"]

#: float32 machine epsilon (2**-23).
EPS32 = float(torch.finfo(torch.float32).eps)


def reorder_atol(scale: float, reduction: int, depth: int = 1, gain: float = 1.0, sigmas: float = 4.0) -> float:
    """Absolute tolerance between two float32 computations of one value that differ only in summation order.

    Args:
        scale: the size of the values compared (their largest magnitude).
        reduction: the longest sum in the computation (e.g. 3*3*C_in for a 3x3 convolution, the width of a linear
            layer's input, the attention span).
        depth: the number of such reductions in a row on the path to the compared value (layers).
        gain: amplification after them (classifier-free guidance: ``1 + 2 * cond_scale``).
        sigmas: standard deviations of the random-walk model (module docstring).
    Returns:
        ``sigmas * gain * sqrt(depth * reduction) * EPS32 * scale``.
    """
    return sigmas * gain * math.sqrt(depth * reduction) * EPS32 * float(scale)


def assert_reordered_close(actual: torch.Tensor, expected: torch.Tensor, reduction: int, depth: int = 1,
                           gain: float = 1.0, msg: str = "", scale: float | None = None) -> None:
    """``torch.testing.assert_close`` with :func:`reorder_atol` at ``scale`` (default: the largest magnitude of
    ``expected``, at least 1e-6 so that an all-zero tensor still gets a tolerance of a few ulps)."""
    if scale is None:
        scale = max(float(expected.detach().abs().max()), 1e-6) if expected.numel() else 1.0
    atol = reorder_atol(scale, reduction, depth, gain)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0,
                               msg=lambda m: f"{msg} (tolerance {atol:.3g} = reorder_atol(scale={scale:.3g}, "
                                             f"reduction={reduction}, depth={depth}, gain={gain})): {m}")


def value_term_scale(policy: torch.nn.Module) -> float:
    """The size of the terms a VPT value head sums, which is the scale of its rounding errors (its output is a sum
    with cancellation, so it can be much smaller than its terms).

    The head is ``denormalize(w . h + b)`` with ``h = final_ln(...)``: ``|w . h| <= ||w||_2 ||h||_2`` and a
    LayerNorm output has ``||h||_2 <= sqrt(hidsize) * max|gain| + ||bias||_2``; denormalizing multiplies by the
    normaliser's standard deviation.
    """
    ln = policy.net.final_ln
    w = policy.value_head.linear.weight.detach()
    h_norm = math.sqrt(ln.weight.numel()) * float(ln.weight.detach().abs().max()) + float(ln.bias.detach().norm())
    _, var = policy.value_head.normalizer.running_mean_var()
    return float(w.norm()) * h_norm * float(var.detach().max().sqrt())
