"""The role's input checks (tasks/check.yml, its first task: one `fail`
whose message joins every failing check's, before any module runs) against the examples of issue 10: a value with a trailing newline
(what a YAML `|` scalar gives) is refused by every validator, and a login
over a cleartext connection is refused unless aloha_email_allow_cleartext_login
says it is meant. Each refused case has a control: the same input without
the flaw passes the checks (the run then stops at the next step, which looks
for the Aloha user, and that user does not exist here).

One ansible-playbook run on the controller for every case: each case is an
inventory host with its own variables (connection local; nothing on this
machine is changed by the checks)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
CHECKS = "Check that the connection settings are consistent."

SMTP = {"aloha_email_host": "smtp.example.com", "aloha_email_host_user": "aloha@example.com",
        "aloha_email_password": "Pa55-word"}
LOCAL = {"aloha_email_mode": "local"}

# name: (variables, variable the refusal must name or None when accepted)
CASES = {
    "host_newline": (dict(SMTP, aloha_email_host="smtp.example.com\n"), "aloha_email_host"),
    "host_ok": (SMTP, None),
    "port_newline": (dict(SMTP, aloha_email_port="587\n"), "aloha_email_port"),
    "port_ok": (dict(SMTP, aloha_email_port="587"), None),
    "ses_region_newline": (dict(SMTP, aloha_email_provider="ses", aloha_email_ses_region="eu-west-1\n"),
                           "aloha_email_ses_region"),
    "ses_region_ok": (dict(SMTP, aloha_email_provider="ses", aloha_email_ses_region="eu-west-1"), None),
    "noreply_newline": (dict(SMTP, aloha_email_noreply_address="noreply@example.com\n"),
                        "aloha_email_noreply_address"),
    "noreply_ok": (dict(SMTP, aloha_email_noreply_address="noreply@example.com"), None),
    "tokenized_newline": (dict(SMTP, aloha_email_tokenized_noreply_address="noreply-{token}@example.com\n"),
                          "aloha_email_tokenized_noreply_address"),
    "tokenized_ok": (dict(SMTP, aloha_email_tokenized_noreply_address="noreply-{token}@example.com"), None),
    "recipient_newline": (dict(SMTP, aloha_email_test_recipient="ops@example.net\n"),
                          "aloha_email_test_recipient"),
    "recipient_ok": (dict(SMTP, aloha_email_test_recipient="ops@example.net"), None),
    "relay_host_newline": (dict(LOCAL, aloha_email_local_relay_host="smtp.example.com\n"),
                           "aloha_email_local_relay_host"),
    "relay_host_ok": (dict(LOCAL, aloha_email_local_relay_host="smtp.example.com"), None),
    "relay_port_newline": (dict(LOCAL, aloha_email_local_relay_host="smtp.example.com",
                                aloha_email_local_relay_port="587\n"), "aloha_email_local_relay_port"),
    "selector_newline": (dict(LOCAL, aloha_email_local_dkim_selector="aloha\n"),
                         "aloha_email_local_dkim_selector"),
    "selector_ok": (dict(LOCAL, aloha_email_local_dkim_selector="aloha2026"), None),
    "domains_newline": (dict(LOCAL, aloha_email_local_domains=["example.com\n"]), "aloha_email_local_domains"),
    "domains_ok": (dict(LOCAL, aloha_email_local_domains=["example.com"]), None),
    "relay_password_newline": (dict(LOCAL, aloha_email_local_relay_host="smtp.example.com",
                                    aloha_email_local_relay_user="aloha@example.com",
                                    aloha_email_local_relay_password="Pa55-word\n"),
                               "aloha_email_local_relay_password"),
    # A login with TLS and SSL both off: the password would cross the
    # network in clear text.
    "cleartext_login": (dict(SMTP, aloha_email_port=25, aloha_email_use_tls=False, aloha_email_use_ssl=False),
                        "aloha_email_allow_cleartext_login"),
    "cleartext_login_allowed": (dict(SMTP, aloha_email_host="localhost", aloha_email_port=25,
                                     aloha_email_use_tls=False, aloha_email_use_ssl=False,
                                     aloha_email_allow_cleartext_login=True), None),
    # No login: nothing secret crosses the network, nothing to refuse.
    "cleartext_no_login": (dict(SMTP, aloha_email_host="localhost", aloha_email_port=25, aloha_email_host_user="",
                                aloha_email_password="", aloha_email_use_tls=False, aloha_email_use_ssl=False),
                           None),
    "login_with_starttls": (dict(SMTP, aloha_email_port=587, aloha_email_use_tls=True), None),
}

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: The role's check phase.
      ansible.builtin.include_role:
        name: aloha_email
        tasks_from: check
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{case: (failed task name, [messages of its failed items])}."""
    tmp = tmp_path_factory.mktemp("input-checks")
    hosts = {name: dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable,
                        aloha_email_user="no-such-aloha-user", aloha_email_deploy_path=str(tmp / "none"))
             for name, (variables, _) in CASES.items()}
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    (tmp / "play.yml").write_text(PLAYBOOK)
    (tmp / "ansible.cfg").write_text("[defaults]\nroles_path = %s\nforks = 8\n" % (ROOT / "roles"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_LIBRARY=str(ROOT / "roles/aloha_email/library"),
               ANSIBLE_MODULE_UTILS=str(ROOT / "roles/aloha_email/module_utils"))
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(tmp / "inventory.json"), str(tmp / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=tmp)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    found = {}
    for task in tasks:
        for host, result in task["hosts"].items():
            if result.get("failed") and host not in found:
                items = [r.get("msg", "") for r in result.get("results", []) if r.get("failed")]
                found[host] = (task["task"]["name"].split(" : ", 1)[-1], items or [result.get("msg", "")])
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_check(outcomes, case):
    variables, named = CASES[case]
    task, messages = outcomes[case]
    if named is None:
        # Past every input check: the next step, the host's Aloha user, failed.
        assert task != CHECKS and "no-such-aloha-user" in messages[0], (task, messages)
        return
    assert task == CHECKS, (task, messages)
    assert len(messages) == 1, messages
    assert named in messages[0], messages[0]
    for secret in (variables.get("aloha_email_password"), variables.get("aloha_email_local_relay_password")):
        if secret:
            assert secret.strip() not in messages[0]
