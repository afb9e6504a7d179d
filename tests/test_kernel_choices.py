"""The equivalence tests hold under every kernel choice this CPU can make, not only the one torch picks by default.

PyTorch picks its kernels by CPU capability; ``ATEN_CPU_CAPABILITY=default|avx2|avx512`` forces one, so this test
reproduces, on one machine, what the suite computes on a CPU with fewer instruction-set extensions (an AVX-512
machine also runs the AVX2 and default kernels; an AVX2 machine the default ones). Each choice runs the test modules
that compare two computations of the same value (tests/float_tolerance.py) in a fresh interpreter, since the
capability is read once at import.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
#: Modules whose tests compare two float32 computations of one value (batched vs per-row, chunk vs stepping, ...).
EQUIVALENCE_MODULES = ("steve1/test_conditional_policy.py", "vpt/test_masked_attention.py",
                       "vpt/test_policy_heads.py")
_ORDER = ("DEFAULT", "AVX2", "AVX512")


def _capabilities() -> list[str]:
    """The capabilities up to the CPU's own (``torch.backends.cpu.get_cpu_capability()``), lower-case."""
    own = torch.backends.cpu.get_cpu_capability().upper()
    top = _ORDER.index(own) if own in _ORDER else 0
    return [c.lower() for c in _ORDER[: top + 1]]


@pytest.mark.parametrize("capability", ["default", "avx2", "avx512"])
def test_equivalence_tests_pass_under_forced_kernels(capability):
    if capability not in _capabilities():
        pytest.skip(f"this CPU's capability is {torch.backends.cpu.get_cpu_capability()}: cannot run {capability} kernels")
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(TESTS / m) for m in EQUIVALENCE_MODULES]]
    proc = subprocess.run(cmd, env=env, cwd=TESTS.parent, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"ATEN_CPU_CAPABILITY={capability}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout
