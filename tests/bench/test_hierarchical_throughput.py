"""bench/hierarchical_throughput.py: the bench scripts' task config is the HighLevelConfig that ppo_highlevel.py
resolves for the task (hierarchical.methods.resolve_config), with the given values over it."""
import pytest
from bench_testutils import load_bench_script

import tasks
from hierarchical.config import HighLevelConfig
from hierarchical.methods import resolve_config
from steve1.utils.cli import UsageError


@pytest.fixture(scope="module")
def ht():
    return load_bench_script("hierarchical_throughput")


def test_task_config_is_the_resolved_config_of_the_task(ht):
    expected = resolve_config(tasks.get_specs("crafter_iron"), {"n_envs": 3})[0]
    for cfg in (ht.task_config("crafter_iron", {"n_envs": 3}),
                ht.checked_task_config("crafter_iron", {"n_envs": 3}, "configs/crafter/highlevel.yaml",
                                       sim="crafter", need_files=False)):
        assert isinstance(cfg, HighLevelConfig) and cfg == expected and cfg.n_envs == 3


def test_checked_task_config_names_the_flag(ht):
    with pytest.raises(UsageError, match=r"^--task crafter_nope"):
        ht.checked_task_config("crafter_nope", {}, need_files=False)
    with pytest.raises(UsageError, match=r"^--n_envs: n_envs must be"):
        ht.checked_task_config("crafter_iron", {"n_envs": 0}, need_files=False)
