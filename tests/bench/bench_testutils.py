"""Helpers of the bench/ script tests: the scripts are not a package, so they are loaded by path."""
import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
# As when a script runs (``python bench/<name>.py`` puts bench/ first on the module search path), the scripts import
# each other by name (e.g. ``from low_level_competence import AchievementTimer``).
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


def load_bench_script(name: str):
    """Import ``bench/<name>.py`` as module ``name`` (registered in ``sys.modules``) and return it."""
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
