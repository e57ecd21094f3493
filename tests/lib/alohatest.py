"""Helpers the molecule scenarios' testinfra tests share: hosts from the
molecule inventory, the SMTP server's mailbox, and running the role again
with other variables."""

import base64
import configparser
import io
import json
import os
import re
import subprocess
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
SECTION_RULE = "#" * 16
TOKENIZED = re.compile(r"noreply-[a-z2-7]{24}@")


def host_names(group):
    return testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts(group)


def host(name):
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY)


def smtp_host():
    return host(host_names("smtp")[0])


def vault_password():
    """The SMTP password as the scenario's vault holds it."""
    out = subprocess.run(
        ["ansible-vault", "view", str(ROOT / "molecule/resources/vault.yml")],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(ROOT / "molecule/resources/vault-password")),
    ).stdout
    return re.search(r'aloha_email_password: "(.*)"', out).group(1)


def messages(smtp=None):
    """Messages the SMTP test server accepted, oldest first."""
    smtp = smtp or smtp_host()
    return json.loads(smtp.check_output("aloha-test-smtp-messages"))


def clear_messages(smtp=None):
    (smtp or smtp_host()).check_output("aloha-test-smtp-messages --clear")


def recipient(hostname):
    """The test recipient the scenarios give each Aloha host."""
    return "ops+%s@example.net" % hostname


def messages_for(msgs, hostname):
    return [m for m in msgs if recipient(hostname) in m["rcpt_tos"]]


def section(text, title="Outgoing email (SMTP) settings."):
    """(section lines, other lines) of a settings.py text."""
    lines = text.splitlines()
    starts = [i for i in range(len(lines) - 1) if lines[i] == SECTION_RULE and lines[i + 1].startswith("## ")]
    start = next(i for i in starts if lines[i + 1][3:].strip() == title)
    end = next((i for i in starts if i > start), len(lines))
    return lines[start:end], lines[:start] + lines[end:]


def read_secrets(text):
    parser = configparser.RawConfigParser()
    parser.read_file(io.StringIO(text))
    return parser


def password_forms(password, user="aloha@aloha.test"):
    """The password as it could leak: plain, quoted, base64 (alone and in AUTH PLAIN)."""
    forms = {password, repr(password), json.dumps(password)}
    for raw in (password, "\0%s\0%s" % (user, password), "%s\0%s" % (user, password)):
        forms.add(base64.b64encode(raw.encode()).decode())
    return forms


def run_role(limit, extra_vars=None, playbook="molecule/resources/converge.yml", check=False, diff=False, verbosity=0):
    """Run a playbook against the molecule hosts; returns CompletedProcess
    with stdout+stderr in .stdout."""
    cmd = ["ansible-playbook", "-i", INVENTORY, str(ROOT / playbook), "--limit", limit]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += ["--check"] * check + ["--diff"] * diff
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
