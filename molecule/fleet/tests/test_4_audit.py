"""playbooks/audit.yml (in check mode, with the preflight): its JSON report
matches the hosts' real files, it shows drift, and it changes nothing and
sends no mail. Run for real (no --check, no preflight) it is read-only too:
no file changes, not even its times, and no connection to the SMTP server."""

import ast
import base64
import json
import time

import pytest

from alohatest import (ALOHA_FILES, ROOT, file_checksums, fleet_report, host, host_names, messages, password_forms,
                       read_secrets, run_fleet, smtp_log_since, smtp_log_size, vault_password)

ALOHA = host_names("aloha")
DRIFTED = host_names("fleet_a")[-1]
SETTINGS = "/etc/aloha/settings.py"


def real_state(name):
    """What the host's files say, read independently of the module."""
    h = host(name)
    values = {}
    for node in ast.parse(h.file(SETTINGS).content_string).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    secrets = read_secrets(h.file("/etc/aloha/aloha-secrets.conf").content_string)
    return dict(mode="smtp", smtp_host=values.get("EMAIL_HOST"), port=values.get("EMAIL_PORT", 25),
                security="ssl" if values.get("EMAIL_USE_SSL") else ("starttls" if values.get("EMAIL_USE_TLS")
                                                                    else "none"),
                host_user=values.get("EMAIL_HOST_USER", ""),
                password_set=bool(secrets.get("secrets", "email_password", fallback="")))


@pytest.fixture(scope="module")
def audit():
    h = host(DRIFTED)
    original = h.file(SETTINGS).content_string
    # An operator's line after the section: Python's last assignment wins.
    h.check_output("printf '\\n# ops: temporary port\\nEMAIL_PORT = 2525\\n' >> %s" % SETTINGS)
    before = {name: file_checksums(name) for name in ALOHA}
    count = len(messages())
    started = int(time.time()) - 1
    # -vvv: every module's options are printed (a password option without
    # no_log would show), and verbosity 0 prints a subset of it.
    proc = run_fleet("playbooks/audit.yml", {"aloha_email_audit_preflight": True}, report="audit", check=True,
                     verbosity=3)
    after = {name: file_checksums(name) for name in ALOHA}
    mails = len(messages()) - count
    # The hosts' real state while the audit ran (with the drift in place).
    real = {name: real_state(name) for name in ALOHA}
    h.check_output("echo %s | base64 -d > %s" % (base64.b64encode(original.encode()).decode(), SETTINGS))
    assert h.file(SETTINGS).content_string == original
    return dict(proc=proc, report=fleet_report("audit", "audit.json"), before=before, after=after, mails=mails,
                real=real, started=started)


def test_audit_runs_and_changes_nothing(audit):
    assert audit["proc"].returncode == 0, audit["proc"].stdout
    assert audit["after"] == audit["before"]
    assert audit["mails"] == 0


@pytest.mark.parametrize("name", ALOHA)
def test_report_matches_the_real_state(audit, name):
    row = audit["report"][name]
    real = audit["real"][name]
    for key, value in real.items():
        assert row[key] == value, (key, row)


def test_drift_is_reported(audit):
    report = audit["report"]
    assert report[DRIFTED]["port"] == 2525
    assert report[DRIFTED]["in_sync"] is False
    assert report[DRIFTED]["drift"] == [{"setting": "port", "host": 2525, "inventory": 587}]
    for name in ALOHA:
        if name != DRIFTED:
            assert report[name]["in_sync"] is True, report[name]


def test_preflight_result_is_in_the_report(audit):
    for name in ALOHA:
        assert audit["report"][name]["preflight"]["ok"] is True, audit["report"][name]


def test_report_files_and_screen_never_hold_a_password(audit):
    md = (ROOT / ".cache/fleet/reports/audit/audit.md").read_text()
    assert "| host | mode |" in md
    for name in ALOHA:
        assert name in md and name in audit["proc"].stdout
    # Every form: the audit's preflight logs in (AUTH PLAIN is base64 of
    # user and password), and JSON or YAML escape what they print.
    forms = password_forms(vault_password()) | password_forms("B-fleet%pass;42", "fleet-b@aloha.test")
    raw_report = (ROOT / ".cache/fleet/reports/audit").glob("*")
    for text in [md, audit["proc"].stdout, json.dumps(audit["report"])] + [p.read_text() for p in raw_report]:
        for form in forms:
            assert form not in text, form


def test_audit_leaves_no_password_in_the_hosts_journal(audit):
    # A module logs its options to the journal ("Invoked with ..."), except
    # the no_log ones: aloha_email_facts gets the expected password.
    forms = password_forms(vault_password()) | password_forms("B-fleet%pass;42", "fleet-b@aloha.test")
    for name in ALOHA:
        # This audit's lines only (the containers share the controller's clock).
        journal = host(name).run("journalctl --no-pager --since @%d 2>/dev/null" % audit["started"]).stdout
        # The module's own line is there: the search is not of an empty journal.
        assert "ansible-aloha_email_facts" in journal, name
        for form in forms:
            assert form not in journal, (name, form)


def file_state(name):
    """Checksums, then modification and change times (nanoseconds): a
    rewrite with the same bytes, or a chmod/chown, changes a time."""
    times = host(name).check_output("stat -c '%%y %%z %%n' %s" % " ".join(ALOHA_FILES))
    return file_checksums(name) + "\n" + times


@pytest.fixture(scope="module")
def audit_for_real():
    before = {name: file_state(name) for name in ALOHA}
    log_size = smtp_log_size()
    count = len(messages())
    proc = run_fleet("playbooks/audit.yml", report="audit-real")
    return dict(proc=proc, report=fleet_report("audit-real", "audit.json"), before=before,
                after={name: file_state(name) for name in ALOHA},
                smtp_log=smtp_log_since(log_size),
                mails=len(messages()) - count)


def test_audit_without_check_mode_is_read_only(audit_for_real):
    proc = audit_for_real["proc"]
    assert proc.returncode == 0, proc.stdout
    assert "--check" not in proc.args and "aloha_email_audit_preflight" not in " ".join(proc.args)
    for name in ALOHA:
        assert audit_for_real["after"][name] == audit_for_real["before"][name], name
        row = audit_for_real["report"][name]
        assert row["in_sync"] is True and row["preflight"] is None, row
    assert audit_for_real["mails"] == 0


def test_audit_without_preflight_never_connects_to_the_smtp_server(audit_for_real):
    # The test server logs every connection ("port=587 peer=... connect").
    assert " connect" not in audit_for_real["smtp_log"], audit_for_real["smtp_log"]
