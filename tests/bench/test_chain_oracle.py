"""bench/chain_oracle.py: the chain's next link follows Crafter's recipes; each link's best code is read from a
report, and a report without one is refused by name."""
import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def co():
    return load_bench_script("chain_oracle")


@pytest.mark.parametrize("inventory, table_near, link", [
    ({}, False, "collect_wood"),
    ({"wood": 1}, False, "collect_wood"),               # a table takes 2 wood
    ({"wood": 2}, False, "place_table"),
    ({"wood": 0}, True, "collect_wood"),                # a wood pickaxe takes 1 wood
    ({"wood": 1}, True, "make_wood_pickaxe"),
    ({"wood_pickaxe": 1, "wood": 5}, True, "collect_stone"),
    ({"wood_pickaxe": 1, "stone": 1}, True, "collect_wood"),
    ({"wood_pickaxe": 1, "stone": 1, "wood": 1}, True, "make_stone_pickaxe"),
    ({"wood_pickaxe": 1, "stone": 1, "wood": 1}, False, "collect_wood"),
    ({"wood_pickaxe": 1, "stone": 1, "wood": 2}, False, "place_table"),
    ({"stone_pickaxe": 1}, False, "collect_iron"),      # crafter_iron's start
    ({"stone_pickaxe": 1, "iron": 1}, False, None),
])
def test_next_link_follows_the_recipes(co, inventory, table_near, link):
    assert co.next_link(inventory, table_near) == link


def test_best_codes_reads_each_link_and_names_a_missing_one(co):
    competence = {a: {"best_code": i} for i, a in enumerate(co.CHAIN)}
    assert co.best_codes(competence) == {a: i for i, a in enumerate(co.CHAIN)}
    del competence["place_table"]
    competence["collect_iron"]["best_code"] = None
    with pytest.raises(ValueError, match="place_table, collect_iron"):
        co.best_codes(competence)
