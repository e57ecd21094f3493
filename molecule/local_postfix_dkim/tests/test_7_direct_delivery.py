"""Direct delivery (no smarthost) when the way out is not clear: the
provider blocks outgoing port 25 (a firewall rule on the fixture's MX), or
the recipient's server defers the mail (the SMTP fixture greylists the
test recipient). Each run starts from the converged smarthost
configuration; a failed run rolls back to it."""

import datetime
import json
import re

from alohatest import dns_from_fixture, host, host_names, postconf, recipient, run_role, smtp_config, \
    smtp_port_filtered

TARGET = host_names("aloha")[0]
CONVERGE = "molecule/local_postfix/converge.yml"
# No smarthost, and no login (the scenario's group_vars set one).
DIRECT = {"aloha_email_local_relay_host": "", "aloha_email_local_relay_user": "",
          "aloha_email_local_relay_password": ""}
SMARTHOST = "relayhost = [smtp.aloha.test]:587"
GREYLISTED = {"greylisted_recipients": [re.escape(recipient(TARGET))]}


def drop_test_emails():
    """The test emails a run left in postfix's queue would reach the SMTP
    server later and count as another test's."""
    host(TARGET).check_output("postsuper -d ALL")


def output(proc):
    """The run's output on one line: long messages are folded."""
    return " ".join(proc.stdout.split())


def assert_rolled_back(proc):
    assert "The previous configuration was restored" in output(proc), proc.stdout
    assert SMARTHOST in postconf(TARGET)


def test_port_25_blocked_without_smarthost_names_the_smarthost_variable():
    # postfix's connection times out after 30 s (smtp_connect_timeout).
    with dns_from_fixture(TARGET), smtp_port_filtered(25):
        try:
            proc = run_role(TARGET, dict(DIRECT, aloha_email_local_relay_wait=45), playbook=CONVERGE)
        finally:
            drop_test_emails()
    out = output(proc)
    assert proc.returncode != 0
    assert "(port25_blocked; queue id" in out, proc.stdout
    assert ":25: Connection timed out" in out
    assert "use a smarthost (aloha_email_local_relay_host" in out
    assert "relay_unreachable" not in out
    assert_rolled_back(proc)


def test_deferred_fail_fails_and_rolls_back():
    with dns_from_fixture(TARGET), smtp_config(**GREYLISTED):
        try:
            proc = run_role(TARGET, dict(DIRECT, aloha_email_local_deferred="fail", aloha_email_local_relay_wait=10),
                            playbook=CONVERGE)
        finally:
            drop_test_emails()
    out = output(proc)
    assert proc.returncode != 0
    assert "(deferred; queue id" in out, proc.stdout
    assert "said: 450 4.7.1" in out and "Greylisted" in out
    assert_rolled_back(proc)


def test_deferral_is_a_warning_with_the_queue_id_and_the_reason():
    """The default, warn: the run keeps the change."""
    h = host(TARGET)
    with dns_from_fixture(TARGET), smtp_config(**GREYLISTED):
        try:
            proc = run_role(TARGET, dict(DIRECT, aloha_email_local_relay_wait=90, aloha_email_verify_force=True),
                            playbook=CONVERGE,
                            env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
            queued = h.check_output("postqueue -p")
        finally:
            drop_test_emails()
    assert proc.returncode == 0, proc.stdout
    run, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    task = next(t for play in run["plays"] for t in play["tasks"]
                if t["task"]["name"].endswith("Send Aloha's two test emails with manage.py send_test_email."))
    result = task["hosts"][TARGET]
    # The warning names each deferred test email as postfix's queue has it.
    ids = [e["queue_id"] for e in result["queued"]]
    assert len(ids) == 2 and all(i in queued for i in ids), (ids, queued)
    [warning] = result["warnings"]
    assert "deferred 2 test emails (postfix queue id %s)" % ", ".join(ids) in warning, warning
    assert "said: 450 4.7.1" in warning and "Greylisted" in warning
    # It ended the wait at the deferral, not after aloha_email_local_relay_wait.
    took = (datetime.datetime.fromisoformat(task["task"]["duration"]["end"].replace("Z", "+00:00"))
            - datetime.datetime.fromisoformat(task["task"]["duration"]["start"].replace("Z", "+00:00")))
    assert took.total_seconds() < 90, took
    assert "relayhost =" in postconf(TARGET)
    proc = run_role(TARGET, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    assert SMARTHOST in postconf(TARGET)
