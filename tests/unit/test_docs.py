"""The role's documentation matches its defaults: every variable in
defaults/main.yml appears in the role README with exactly its default, and
in meta/argument_specs.yml with the same default."""

from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles/aloha_email"
DEFAULTS_TEXT = (ROLE / "defaults/main.yml").read_text()
DEFAULTS = yaml.safe_load(DEFAULTS_TEXT)
SPECS = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
README = (ROLE / "README.md").read_text()


def default_lines():
    return [ln for ln in DEFAULTS_TEXT.splitlines() if ln.startswith("aloha_email_")]


@pytest.mark.parametrize("line", default_lines())
def test_readme_shows_each_default_exactly(line):
    assert line in README.splitlines(), "README lacks the line %r" % line


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_argument_specs_has_the_same_default(name):
    spec = SPECS[name]
    if DEFAULTS[name] is None:
        assert "default" not in spec and not spec.get("required", False)
    else:
        assert spec["default"] == DEFAULTS[name]


def test_argument_specs_documents_nothing_extra():
    assert sorted(SPECS) == sorted(DEFAULTS)
