"""The inventories the README sends users to parse, and their vaults
decrypt, under the production ansible.cfg: inventories/example with both of
its vault IDs (prod and staging, from vault-id files holding the example
passwords its README gives), and inventories/skeleton (vault ID prod)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PASSWORDS = {"prod": "example-prod-vault-password", "staging": "example-staging-vault-password"}
SKELETON_PASSWORDS = {"prod": "example-skeleton-vault-password"}
PROD = ["chat-eu-1.example.com", "chat-eu-2.example.com", "chat-eu-3.example.com",
        "chat-us-1.example.com", "chat-us-2.example.com"]


def vault_args(tmp_path, passwords):
    """--vault-id ID@FILE for each ID, the password in a 0600 file."""
    args = []
    for vault_id, password in passwords.items():
        path = tmp_path / ("vault-%s" % vault_id)
        path.write_text(password + "\n")
        path.chmod(0o600)
        args += ["--vault-id", "%s@%s" % (vault_id, path)]
    return args


def ansible(tmp_path, *cmd):
    # The production configuration, as from the repository root; nothing of
    # the caller's environment (a test ANSIBLE_CONFIG, a vault password file).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path),
               ANSIBLE_HOME=str(tmp_path / "home"))
    return subprocess.run(list(cmd), cwd=ROOT, env=env, capture_output=True, text=True)


def inventory_list(tmp_path, inventory, passwords):
    proc = ansible(tmp_path, "ansible-inventory", "-i", inventory, "--list", *vault_args(tmp_path, passwords))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_example_inventory_groups_and_both_vaults(tmp_path):
    data = inventory_list(tmp_path, "inventories/example", EXAMPLE_PASSWORDS)
    assert sorted(data["aloha"]["children"]) == ["prod", "staging"]
    assert sorted(data["prod"]["children"]) == ["prod_eu", "prod_us"]
    assert data["prod_eu"]["hosts"] == PROD[:3]
    assert data["prod_us"]["hosts"] == PROD[3:]
    assert data["staging"]["hosts"] == ["chat-staging.example.com"]
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(PROD + ["chat-staging.example.com"])
    for name in PROD:
        # group_vars layer aloha -> prod -> region -> host_vars; prod's vault decrypted.
        assert hostvars[name]["vault_aloha_email_password"] == "example-prod-smtp-password"
        assert hostvars[name]["aloha_email_provider"] == "ses"
        assert hostvars[name]["aloha_email_mode"] == "smtp"
        assert hostvars[name]["aloha_email_ses_region"] == ("eu-west-1" if "-eu-" in name else "us-east-1")
    assert hostvars["chat-eu-3.example.com"]["aloha_email_port"] == 465
    assert hostvars["chat-eu-3.example.com"]["aloha_email_use_ssl"] is True
    staging = hostvars["chat-staging.example.com"]
    assert staging["vault_aloha_email_password"] == "example-staging-smtp-password"
    assert staging["aloha_email_provider"] == "mailgun"
    assert staging["aloha_email_test_recipient"] == "aloha-staging@example.com"


def test_example_inventory_needs_both_vault_ids(tmp_path):
    proc = ansible(tmp_path, "ansible-inventory", "-i", "inventories/example", "--list",
                   *vault_args(tmp_path, {"prod": EXAMPLE_PASSWORDS["prod"]}))
    assert proc.returncode != 0
    assert "Decryption failed" in proc.stderr


def test_example_password_templates_from_each_vault(tmp_path):
    """What the role reads, aloha_email_password, is templated from the
    environment's vault (the debug action runs on the controller only)."""
    proc = ansible(tmp_path, "ansible", "aloha", "-i", "inventories/example", "-m", "ansible.builtin.debug",
                   "-a", "var=aloha_email_password", *vault_args(tmp_path, EXAMPLE_PASSWORDS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = dict({name: "example-prod-smtp-password" for name in PROD},
                    **{"chat-staging.example.com": "example-staging-smtp-password"})
    # ansible.cfg prints results as YAML: "HOST | SUCCESS => \n    aloha_email_password: VALUE".
    found = dict(re.findall(r"^(\S+) \| SUCCESS => \s*aloha_email_password: (\S+)$", proc.stdout, re.M))
    assert found == expected, proc.stdout


@pytest.mark.parametrize("playbook", ["playbooks/audit.yml", "playbooks/rollout.yml", "playbooks/dkim_rotate.yml"])
def test_fleet_playbooks_load_the_example_inventory(tmp_path, playbook):
    proc = ansible(tmp_path, "ansible-playbook", "-i", "inventories/example", playbook, "--list-hosts",
                   *vault_args(tmp_path, EXAMPLE_PASSWORDS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in PROD + ["chat-staging.example.com"]:
        assert name in proc.stdout


def test_skeleton_inventory_and_vault(tmp_path):
    data = inventory_list(tmp_path, "inventories/skeleton", SKELETON_PASSWORDS)
    assert data["aloha"]["hosts"] == ["chat.example.com"]
    hostvars = data["_meta"]["hostvars"]["chat.example.com"]
    assert hostvars["vault_aloha_email_password"] == "example-smtp-password"
    assert hostvars["aloha_email_password"] == "{{ vault_aloha_email_password }}"
    proc = ansible(tmp_path, "ansible-playbook", "-i", "inventories/skeleton", "site.yml", "--list-hosts",
                   *vault_args(tmp_path, SKELETON_PASSWORDS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chat.example.com" in proc.stdout


def test_documented_fleet_commands_give_the_vault_ids_they_need():
    """Every command the docs give against inventories/example passes both
    vault IDs, or limits the run to prod and passes prod's."""
    docs = ["README.md", "inventories/example/README.md", "playbooks/rollout.yml", "playbooks/audit.yml"]
    commands = []
    for doc in docs:
        for line in (ROOT / doc).read_text().splitlines():
            if re.search(r"ansible-(playbook|inventory) -i inventories/example\b", line):
                commands.append((doc, line))
    assert len(commands) >= 6
    for doc, line in commands:
        both = "--vault-id prod@" in line and "--vault-id staging@" in line
        prod_only = "--vault-id prod@" in line and "--limit prod" in line
        assert both or prod_only, "%s: %s" % (doc, line)


def test_prod_alone_needs_only_the_prod_vault_id(tmp_path):
    proc = ansible(tmp_path, "ansible", "aloha", "--limit", "prod", "-i", "inventories/example", "-m",
                   "ansible.builtin.debug", "-a", "var=aloha_email_password",
                   *vault_args(tmp_path, {"prod": EXAMPLE_PASSWORDS["prod"]}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = dict(re.findall(r"^(\S+) \| SUCCESS => \s*aloha_email_password: (\S+)$", proc.stdout, re.M))
    assert found == {name: "example-prod-smtp-password" for name in PROD}
