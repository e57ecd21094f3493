"""requirements.yml lists exactly the collections the role and the
playbooks use, each pinned to one version, and galaxy.yml depends on the
same ones (ansible.builtin and the collection itself aside)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["roles", "playbooks", "plugins", "site.yml"]
FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
OWN = {"ansible.builtin", "ansible.legacy", "aloha.email"}
# Collection-like strings in the shipped files that are not collections.
NOT_COLLECTIONS = re.compile(r"^(django|aloha|email|example|smtp|mail|mailgun|sendgrid|amazonaws|sandbox|provider)\.")


def used_collections():
    used = set()
    for top in SHIPPED:
        paths = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for path in paths:
            if path.suffix not in (".yml", ".yaml", ".j2", ".py") or not path.is_file():
                continue
            for ns, name in FQCN.findall(path.read_text()):
                fq = "%s.%s" % (ns, name)
                if fq not in OWN and not NOT_COLLECTIONS.match(fq + ".") and (
                        ROOT / ".venv/lib/python3.11/site-packages/ansible_collections" / ns / name).is_dir():
                    used.add(fq)
    return used


def test_requirements_list_exactly_the_used_collections_pinned():
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    names = {entry["name"] for entry in requirements}
    assert names == used_collections() == {"community.general"}
    for entry in requirements:
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(entry.get("version", ""))), entry


def test_galaxy_dependencies_match():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert set(galaxy["dependencies"]) == used_collections()


def test_execution_environment_installs_the_pinned_collections():
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    listed = [c for c in ee["dependencies"]["galaxy"]["collections"] if c.get("type") != "file"]
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert sorted((c["name"], str(c.get("version"))) for c in listed) == sorted(
        (c["name"], str(c["version"])) for c in requirements)
