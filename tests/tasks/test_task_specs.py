"""tasks/__init__.py: task_specs.yaml resolution and simulator-plugin dispatch (spec §10.1)."""
import importlib.util
import sys

import pytest
import yaml

import tasks


def test_specs_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tasks, "_SPECS_CACHE", None)
    spec = tasks.get_specs("crafter_stone")
    assert spec["name"] == "crafter_stone" and spec["sim"] == "crafter"
    assert spec["sim_specs"]["initial_inventory"] == {"wood_pickaxe": 1}


def test_unknown_task_lists_known_ones():
    with pytest.raises(KeyError) as err:
        tasks.get_specs("crafter_gold")
    assert "crafter_wood" in str(err.value) and "crafter_score" in str(err.value)
    with pytest.raises(KeyError):
        tasks.make("crafter_gold")


def test_get_specs_returns_a_copy():
    spec = tasks.get_specs("crafter_iron")
    spec["sim_specs"]["initial_inventory"]["stone_pickaxe"] = 9
    assert tasks.get_specs("crafter_iron")["sim_specs"]["initial_inventory"]["stone_pickaxe"] == 1


def test_every_entry_names_a_registered_simulator():
    with open(tasks.TASK_SPECS_PATH) as f:
        data = yaml.safe_load(f)
    for name, spec in data.items():
        assert spec["sim"] in tasks.SIMULATORS, name
        assert "terminal_specs" in spec and "max_steps" in spec["terminal_specs"], name


def test_make_dispatches_through_the_registry(monkeypatch):
    calls = []

    class Plugin:
        @staticmethod
        def make_env(spec, **overrides):
            calls.append((spec["name"], overrides))
            return "env"

    monkeypatch.setitem(tasks.SIMULATORS, "crafter", tasks.SimulatorPlugin("fake_sim_plugin", "yaml", "n/a"))
    monkeypatch.setitem(sys.modules, "fake_sim_plugin", Plugin)
    assert tasks.make("crafter_drink", size=32) == "env"
    assert calls == [("crafter_drink", {"size": 32})]


def test_missing_simulator_gives_install_message(monkeypatch):
    if importlib.util.find_spec("minedojo") is not None:
        pytest.skip("minedojo is installed here")
    monkeypatch.setitem(tasks._specs(), "fake_minecraft_task", {"sim": "minedojo", "task_id": "harvest"})
    with pytest.raises(tasks.SimulatorNotInstalledError, match=r"pip install -e \.\[minecraft\] and see README"):
        tasks.make("fake_minecraft_task")


def test_bad_yaml_is_reported_with_the_file(tmp_path):
    bad = tmp_path / "task_specs.yaml"
    bad.write_text("crafter_x:\n  sim: atari\n")
    with pytest.raises(ValueError, match=r"task_specs.yaml.*crafter_x.*atari"):
        tasks._load_specs(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ValueError, match="mapping"):
        tasks._load_specs(bad)


def test_crafter_plugin_rejects_unknown_keys():
    from tasks.crafter import make_env

    spec = tasks.get_specs("crafter_wood")
    spec["terminal_specs"]["max_step"] = 3
    with pytest.raises(ValueError, match="terminal_specs.max_step"):
        make_env(spec)
    spec = tasks.get_specs("crafter_wood")
    spec["terminal_specs"]["on_death"] = False
    with pytest.raises(ValueError, match="on_death"):
        make_env(spec)
