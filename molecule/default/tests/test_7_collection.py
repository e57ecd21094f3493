"""The collection as users run it: `ansible-galaxy collection build`, the
tarball installed offline into a temporary collections path, then the role
by its FQCN (aloha.email.aloha_email) and the playbooks aloha.email.rollout
and aloha.email.audit against the converged hosts. Nothing of the
repository is on any path of these runs: they start outside it, with a
configuration whose roles path is empty."""

import json
import os
import re
import subprocess

import pytest

from alohatest import INVENTORY, ROOT, host_names, run_role

ALOHA = host_names("aloha")
VAULT = ROOT / "molecule/resources/vault.yml"
VAULT_PASSWORD = ROOT / "molecule/resources/vault-password"
VERSION = re.search(r"^version: (\S+)$", (ROOT / "galaxy.yml").read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """(workdir, env): the built collection installed in WORKDIR/collections,
    and the environment of a user who runs it from WORKDIR."""
    work = tmp_path_factory.mktemp("collection")
    build = subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(work / "dist")],
                           cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = work / "dist" / ("aloha-email-%s.tar.gz" % VERSION)
    assert tarball.is_file(), build.stdout
    (work / "roles").mkdir()
    (work / "ansible.cfg").write_text(
        "[defaults]\n"
        "collections_path = %s\n"
        "roles_path = %s\n"
        "gathering = explicit\n"
        "interpreter_python = auto_silent\n"
        "retry_files_enabled = False\n" % (work / "collections", work / "roles"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") or k in ("ANSIBLE_PIPELINING",)}
    env.update(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_VAULT_PASSWORD_FILE=str(VAULT_PASSWORD),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    # Offline, from the file: its one dependency (community.general) comes
    # with the `ansible` package already installed.
    install = subprocess.run(["ansible-galaxy", "collection", "install", "--offline", str(tarball),
                              "-p", str(work / "collections")], cwd=work, env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    (work / "site.yml").write_text(
        "- name: Configure outgoing email with the collection's role.\n"
        "  hosts: aloha\n"
        "  gather_facts: false\n"
        "  vars_files:\n"
        "    - %s\n"
        "  roles:\n"
        "    - role: aloha.email.aloha_email\n" % VAULT)
    return work, env


def playbook(collection, *args):
    work, env = collection
    return subprocess.run(["ansible-playbook", "-i", INVENTORY, *args], cwd=work, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def recap(stdout):
    """{host: {ok: n, changed: n, ...}} from the PLAY RECAP."""
    out = {}
    for name, counts in re.findall(r"^(\S+)\s+: (ok=.*)$", stdout, re.M):
        out[name] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


def test_the_collection_is_installed_from_the_tarball(collection):
    work, env = collection
    proc = subprocess.run(["ansible-galaxy", "collection", "list", "aloha.email", "--format", "json"], cwd=work,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    found = {path: cols for path, cols in json.loads(proc.stdout).items() if "aloha.email" in cols}
    assert list(found) == [str(work / "collections" / "ansible_collections")]
    assert found[str(work / "collections" / "ansible_collections")]["aloha.email"]["version"] == VERSION
    installed = work / "collections/ansible_collections/aloha/email"
    for path in ("roles/aloha_email/tasks/main.yml", "roles/aloha_email/meta/argument_specs.yml",
                 "plugins/modules/aloha_secret.py", "plugins/modules/aloha_snapshot.py",
                 "plugins/module_utils/aloha_email_files.py", "plugins/filter/aloha_email_reports.py",
                 "playbooks/rollout.yml", "playbooks/audit.yml", "playbooks/filter_plugins/aloha_email_reports.py"):
        assert (installed / path).is_file(), path
    for path in ("molecule", "tests", ".venv", "site.yml", "ansible.cfg", "inventories/demo"):
        assert not (installed / path).exists(), path


def test_the_repository_role_is_not_reachable(collection):
    """The short name finds nothing: every run below uses the collection."""
    work, _ = collection
    (work / "short.yml").write_text("- name: Short name.\n  hosts: aloha\n  gather_facts: false\n"
                                    "  roles:\n    - role: aloha_email\n")
    proc = playbook(collection, "short.yml", "--syntax-check")
    assert proc.returncode != 0
    assert "the role 'aloha_email' was not found" in proc.stdout


def test_role_by_fqcn_changes_nothing_on_converged_hosts(collection):
    # Converged as the scenario converges them (earlier tests switch settings).
    converge = run_role("aloha")
    assert converge.returncode == 0, converge.stdout
    proc = playbook(collection, "site.yml")
    assert proc.returncode == 0, proc.stdout
    counts = recap(proc.stdout)
    for name in ALOHA:
        assert counts[name]["failed"] == 0 and counts[name]["unreachable"] == 0, proc.stdout
        assert counts[name]["changed"] == 0, proc.stdout
    assert "aloha.email.aloha_email" in proc.stdout


def test_rollout_playbook_from_the_collection(collection):
    work, _ = collection
    reports = work / "reports-rollout"
    proc = playbook(collection, "aloha.email.rollout", "-e", "@%s" % VAULT, "-e",
                    "aloha_email_report_dir=%s" % reports)
    assert proc.returncode == 0, proc.stdout
    assert "%d host(s): 0 changed, %d unchanged, 0 failed, 0 unreachable, 0 skipped (not reached)" % (
        len(ALOHA), len(ALOHA)) in proc.stdout
    rows = json.loads((reports / "rollout.json").read_text())
    assert rows["stopped"] is False
    assert sorted(r["host"] for r in rows["hosts"]) == sorted(ALOHA)
    assert all(r["status"] == "ok" and not r["changed"] and not r["rolled_back"] for r in rows["hosts"])
    for name in ALOHA:
        assert recap(proc.stdout)[name]["changed"] == 0


def test_audit_playbook_from_the_collection(collection):
    work, _ = collection
    reports = work / "reports-audit"
    proc = playbook(collection, "aloha.email.audit", "-e", "@%s" % VAULT, "-e",
                    "aloha_email_report_dir=%s" % reports, "-e", "aloha_email_audit_preflight=true")
    assert proc.returncode == 0, proc.stdout
    rows = {r["host"]: r for r in json.loads((reports / "audit.json").read_text())["hosts"]}
    assert sorted(rows) == sorted(ALOHA)
    for name, row in rows.items():
        assert "error" not in row, row
        assert row["mode"] == "smtp" and row["smtp_host"] == "smtp.aloha.test" and row["port"] == 587
        assert row["security"] == "starttls" and row["password_set"] is True
        assert row["in_sync"] is True and row["drift"] == []
        assert row["preflight"] == {"ok": True, "msg": row["preflight"]["msg"]}
        # The table is one debug msg: its rows are joined by an escaped "\\n".
        screen = proc.stdout.replace("\\n", "\n")
        assert re.search(r"^%s\s+smtp\s+smtp\.aloha\.test\s+587\s+starttls\s+set\s+none\s+ok\"?$" % re.escape(name),
                         screen, re.M), proc.stdout
    md = (reports / "audit.md").read_text()
    assert md.startswith("# Outgoing email audit\n")
    for name in ALOHA:
        assert "| %s | smtp | smtp.aloha.test | 587 | starttls | set | none | ok |" % name in md
