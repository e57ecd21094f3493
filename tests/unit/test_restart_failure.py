"""A failed restart of Aloha inside the role's transaction lands in the
rescue (rollback.yml): the host fails with the cause restart_failed, the
restart's rc and the tail of its error output, scrubbed of the role's
secrets, and aloha_email_result records the stage. Here without a
snapshot, so nothing is restored (the fleet scenario runs the whole path
against a real restart, with the rollback)."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the role's tasks with ansible-playbook: the in-process mode does not apply.
pytestmark = pytest.mark.ansible_cli

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Rst-pa55;word%x"
USER = "relay@aloha.test"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

# What Aloha's restart-server prints when aloha-secrets.conf does not parse:
# configparser quotes the offending line, here the one with the password.
RESTART_SERVER = r'''#!/usr/bin/python3
import sys
sys.stderr.write("""Traceback (most recent call last):
  File "/home/aloha/deployments/current/scripts/restart-server", line 46, in main
    config.load_all()
    ~~~~~~~~~~~~~~~^^
configparser.ParsingError: Source contains parsing errors: '/etc/aloha/aloha-secrets.conf'
\t[line  4]: 'email_password = %s\\n'
Error: the configuration in /etc/aloha could not be loaded; not restarting.
""")
sys.exit(3)
'''

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    # What check.yml and apply.yml register: settings.py was written.
    __aloha_email_settings: {changed: true}
    __aloha_email_secrets: {changed: false}
    __aloha_email_pending: {settings: true, secrets: false}
  tasks:
    - name: The role's restart step and its rescue, as main.yml runs them.
      block:
        - name: Restart.
          ansible.builtin.include_role:
            name: aloha_email
            tasks_from: restart
      rescue:
        - name: Rescue.
          ansible.builtin.include_role:
            name: aloha_email
            tasks_from: rollback
      always:
        - name: Keep the result.
          ansible.builtin.copy:
            dest: "{{ result_path }}"
            content: "{{ aloha_email_result | to_json }}"
            mode: "0600"
"""


def test_failed_restart_fails_the_host_with_cause_stage_and_a_scrubbed_message(tmp_path):
    deploy = tmp_path / "deploy"
    (deploy / "scripts").mkdir(parents=True)
    script = deploy / "scripts" / "restart-server"
    script.write_text(RESTART_SERVER % PASSWORD)
    script.chmod(0o755)
    # No manage.py: sending the test emails would fail differently.
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\nroles_path = %s\n" % (ROOT / "roles"))
    result_path = tmp_path / "result.json"
    extra = {"aloha_email_deploy_path": str(deploy), "aloha_email_password": PASSWORD,
             "aloha_email_host_user": USER, "result_path": str(result_path),
             "aloha_email_user": pwd.getpwuid(os.geteuid()).pw_name,
             "ansible_python_interpreter": sys.executable}
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LIBRARY=str(ROOT / "roles/aloha_email/library"),
               ANSIBLE_MODULE_UTILS=str(ROOT / "roles/aloha_email/module_utils"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
                           "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=dict(env, ANSIBLE_STDOUT_CALLBACK="json"),
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    failed = [t["hosts"]["localhost"] for t in tasks if t["hosts"]["localhost"].get("failed")]
    # The restart, then the rescue's last task, which fails the host.
    assert len(failed) == 2, failed
    restore = [t["hosts"]["localhost"] for t in tasks if "Put back every file" in t["task"]["name"]]
    assert restore and restore[0].get("skipped"), restore

    result = json.loads(result_path.read_text())
    assert result == {"changed": True, "verified": False, "rolled_back": False,
                      "stage": "restart", "cause": "restart_failed"}
    msg = failed[-1]["msg"]
    assert msg.startswith("Aloha did not restart with the new configuration (restart_failed): "
                          "%s exited with rc 3: " % script)
    assert "'email_password = ********\\n'" in msg
    assert "not restarting. Fix what Aloha refused (the error above), then run the role again." in msg
    assert msg.rstrip().endswith("The new files were left in place (aloha_email_rollback or aloha_email_verify "
                                 "is false); Aloha may not be running: fix the cause and run the role again.")
    # The tail without Python's ~~~^^ marker lines.
    assert "~~~" not in msg and "^^" not in msg
    assert "config.load_all()" in msg


PREFLIGHT_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A preflight that fails, before anything is written or snapshotted.
      block:
        - name: The preflight.
          ansible.builtin.command: /bin/false
          register: __aloha_email_preflight_result
      rescue:
        - name: Rescue.
          ansible.builtin.include_role:
            name: aloha_email
            tasks_from: rollback
      always:
        - name: Keep the result.
          ansible.builtin.copy:
            dest: "{{ result_path }}"
            content: "{{ aloha_email_result | default('unset') | to_json }}"
            mode: "0600"
"""


def test_failed_preflight_rescue_records_its_stage_with_nothing_written(tmp_path):
    """Nothing of the apply phase is registered yet (no settings or secrets
    result): the rescue must still record the stage and say nothing changed."""
    (tmp_path / "play.yml").write_text(PREFLIGHT_PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\nroles_path = %s\n" % (ROOT / "roles"))
    result_path = tmp_path / "result.json"
    extra = {"result_path": str(result_path), "ansible_python_interpreter": sys.executable,
             "aloha_email_password": PASSWORD}
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
                           "-e", json.dumps(extra)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(result_path.read_text()) == {"changed": False, "verified": False, "rolled_back": False,
                                                    "stage": "preflight", "cause": "apply_failed"}
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    last = tasks[-2]["hosts"]["localhost"]
    assert last.get("failed") and last["msg"].rstrip().endswith("Nothing was changed."), last
