"""tests/variables.yml maps every variable of the role's argument specs to
the tests that set it to a non-default value: this fails when a variable
has none, or when a listed test does not exist or never names it."""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "tests/variables.yml").read_text())
SPECS = yaml.safe_load((ROOT / "roles/aloha_email/meta/argument_specs.yml").read_text())["argument_specs"]


def variables():
    names = set()
    for entry in SPECS.values():
        names |= {name for name in entry.get("options", {}) if name.startswith("aloha_email_")}
    return names


def test_every_variable_has_a_test_with_a_non_default_value():
    missing = sorted(variables() - set(TABLE))
    assert not missing, "variables without a test in tests/variables.yml: %s" % missing
    unknown = sorted(set(TABLE) - variables())
    assert not unknown, "tests/variables.yml lists variables the role does not have: %s" % unknown
    for name, tests in TABLE.items():
        assert tests, name


def test_each_listed_test_exists_and_names_its_variable():
    for name, tests in TABLE.items():
        for entry in tests:
            node, _, via = entry.partition(" via ")
            path, _, function = node.partition("::")
            source = (ROOT / path).read_text()
            defined = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
            assert function in defined, "%s: %s has no %s" % (name, path, function)
            where = source + ((ROOT / via).read_text() if via else "")
            assert name in where, "%s is not set by %s%s" % (name, node, " or " + via if via else "")
