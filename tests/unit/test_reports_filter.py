"""The report filters (plugins/filter/aloha_email_reports.py) give exactly
the text the playbooks' Jinja loops gave before them: the old templates are
kept below and rendered by Ansible on the same rows. Then the playbooks,
run for real against hosts that do not answer, print and write the
reports through the filters (from playbooks/filter_plugins)."""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("aloha_email_reports", ROOT / "plugins/filter/aloha_email_reports.py")
reports = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(reports)

# The templates of playbooks/rollout.yml and audit.yml before the filters.
OLD = yaml.safe_load(r"""
rollout_rows: >-
  {% set out = [] -%}
  {% for name in __targets -%}
  {% set r = hostvars[name].aloha_email_rollout | default({'status': 'skipped', 'changed': false, 'verified': false,
       'rolled_back': false, 'stage': none, 'cause': 'not reached: the rollout stopped before this host',
       'message': '', 'batch': []}) -%}
  {% set _ = out.append(r | combine({'host': name})) -%}
  {% endfor -%}
  {{ out }}
rollout_fmt: "%-28s %-11s %-7s %-8s %-11s %s"
rollout_lines: >-
  {% set out = [__fmt | format('HOST', 'STATUS', 'CHANGED', 'VERIFIED', 'ROLLED BACK', 'CAUSE')] -%}
  {% for r in __rows -%}
  {% set _ = out.append(__fmt | format(r.host, r.status, r.changed | bool | lower, r.verified | bool | lower,
         r.rolled_back | bool | lower,
         '' if r.cause is none else (r.stage ~ ': ' ~ r.cause if r.stage else r.cause))) -%}
  {% endfor -%}
  {% set stats = __rows | map(attribute='status') | list -%}
  {% set _ = out.append('%d host(s): %d changed, %d unchanged, %d failed, %d unreachable, %d skipped (not reached)'
         | format(stats | length, stats | select('eq', 'changed') | list | length, stats | select('eq', 'ok') | list | length,
                  stats | select('eq', 'failed') | list | length, stats | select('eq', 'unreachable') | list | length,
                  stats | select('eq', 'skipped') | list | length)) -%}
  {% for r in __rows if r.status in ['failed', 'unreachable'] -%}
  {% set _ = out.append(r.host ~ ': ' ~ (r.message | replace('\n', ' '))) -%}
  {% endfor -%}
  {{ out }}
audit_rows: >-
  {% set out = [] -%}
  {% for name in __targets -%}
  {% set a = hostvars[name].aloha_email_audit | default({'error': 'not audited (--limit or earlier failure)'}) -%}
  {% set _ = out.append(a | combine({'host': name})) -%}
  {% endfor -%}
  {{ out }}
audit_fmt: "%-28s %-6s %-24s %-5s %-8s %-8s %-8s %s"
audit_lines: >-
  {% set out = [__fmt | format('HOST', 'MODE', 'SMTP HOST', 'PORT', 'TLS/SSL', 'PASSWORD', 'DRIFT', 'PREFLIGHT')] -%}
  {% for r in __rows -%}
  {% if r.error is defined -%}
  {% set _ = out.append('%-28s ERROR %s' | format(r.host, r.error)) -%}
  {% else -%}
  {% set _ = out.append(__fmt | format(r.host, r.mode, r.smtp_host | default('-', true), r.port, r.security,
         'set' if r.password_set else ('unset' if r.password_set is sameas false else '?'),
         'none' if r.in_sync else (r.drift | map(attribute='setting') | join(',')),
         '-' if r.preflight is none else ('ok' if r.preflight.ok else r.preflight.msg | truncate(80)))) -%}
  {% endif -%}
  {% endfor -%}
  {{ out }}
audit_md: |
  # Outgoing email audit

  | host | mode | SMTP host | port | TLS/SSL | password | drift from inventory | preflight |
  | --- | --- | --- | --- | --- | --- | --- | --- |
  {% for r in __rows %}
  {% if r.error is defined %}
  | {{ r.host }} | error: {{ r.error | replace('|', '\\|') | replace('\n', ' ') }} | | | | | | |
  {% else %}
  | {{ [r.host, r.mode, r.smtp_host | default('-', true), r.port, r.security, 'set' if r.password_set else 'unset',
        'none' if r.in_sync else (r.drift | map('to_json') | join('; ')),
        '-' if r.preflight is none else ('ok' if r.preflight.ok else r.preflight.msg)]
       | map('string') | map('replace', '|', '\\|') | map('replace', '\n', ' ') | join(' | ') }} |
  {% endif %}
  {% endfor %}
""")

LONG = ("SMTP preflight failed (auth_refused): 535 5.7.8 Authentication credentials invalid for the user "
        "aloha@aloha.test | see the how-to's troubleshooting\nsecond line")
ROLLOUT = {
    "canary.example.com": {"status": "changed", "changed": True, "verified": True, "rolled_back": False,
                           "stage": None, "cause": None, "message": "", "batch": ["canary.example.com"]},
    "ok.example.com": {"status": "ok", "changed": False, "verified": False, "rolled_back": False, "stage": None,
                       "cause": None, "message": "", "batch": ["ok.example.com", "bad.example.com"]},
    "bad.example.com": {"status": "failed", "changed": False, "verified": False, "rolled_back": False,
                        "stage": "preflight", "cause": "auth_refused", "message": LONG,
                        "batch": ["ok.example.com", "bad.example.com"]},
    "rolled.example.com": {"status": "failed", "changed": "True", "verified": "false", "rolled_back": "yes",
                           "stage": "verify", "cause": "sender_refused", "message": "test emails failed",
                           "batch": []},
    "input.example.com": {"status": "failed", "changed": False, "verified": False, "rolled_back": False,
                          "stage": "", "cause": "error", "message": "bad input", "batch": []},
    "gone.example.com": {"status": "unreachable", "changed": False, "verified": False, "rolled_back": False,
                         "stage": "connect", "cause": "unreachable", "message": "ssh: connect refused\nretry",
                         "batch": []},
}
AUDIT = {
    "synced.example.com": {"mode": "smtp", "smtp_host": "smtp.aloha.test", "port": 587, "security": "starttls",
                           "use_tls": True, "use_ssl": False, "host_user": "aloha@aloha.test",
                           "password_set": True, "drift": [], "in_sync": True, "problems": [],
                           "preflight": {"ok": True, "msg": ""}},
    "drifted.example.com": {"mode": "smtp", "smtp_host": "smtp.aloha.test", "port": 2525, "security": "none",
                            "use_tls": False, "use_ssl": False, "host_user": "", "password_set": False,
                            "drift": [{"setting": "port", "host": 2525, "inventory": 587},
                                      {"setting": "use_tls", "host": False, "inventory": True},
                                      {"setting": "email_password", "host": "differs (not shown)",
                                       "inventory": "vault value | é"}],
                            "in_sync": False, "problems": [], "preflight": {"ok": False, "msg": LONG}},
    "file.example.com": {"mode": "file", "smtp_host": "", "port": None, "security": "none", "use_tls": False,
                         "use_ssl": False, "host_user": "", "password_set": None, "drift": [], "in_sync": True,
                         "problems": [], "preflight": None},
    "short.example.com": {"mode": "local", "smtp_host": "localhost", "port": 25, "security": "none",
                          "use_tls": False, "use_ssl": False, "host_user": "", "password_set": False,
                          "drift": [{"setting": "mode", "host": "smtp", "inventory": "local"}], "in_sync": False,
                          "problems": [], "preflight": {"ok": False, "msg": "x" * 84}},
    "broken.example.com": {"error": "aloha_email_facts: settings.py | line 3\ninvalid syntax"},
}


def render(template, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(template))


def hostvars(facts, fact):
    """hostvars as the templates see them; the last host has no fact."""
    out = {name: {fact: value} for name, value in facts.items()}
    out["missing.example.com"] = {}
    return out


@pytest.mark.parametrize("kind,facts", [("rollout", ROLLOUT), ("audit", AUDIT)])
def test_rows_match_the_old_template(kind, facts):
    fact = "aloha_email_%s" % kind
    targets = list(facts) + ["missing.example.com"]
    old = render(OLD["%s_rows" % kind], __targets=targets, hostvars=hostvars(facts, fact))
    new = getattr(reports, "%s_rows" % kind)(targets, hostvars(facts, fact))
    assert new == old
    assert [r["host"] for r in new] == targets
    assert list(new[0])[-1] == "host"


def test_rollout_lines_match_the_old_template():
    targets = list(ROLLOUT) + ["missing.example.com"]
    rows = reports.rollout_rows(targets, hostvars(ROLLOUT, "aloha_email_rollout"))
    new = reports.rollout_lines(rows)
    assert new == render(OLD["rollout_lines"], __rows=rows, __fmt=OLD["rollout_fmt"])
    assert "bad.example.com              failed      false   false    false       preflight: auth_refused" in new
    assert "missing.example.com          skipped     false   false    false       not reached: the rollout stopped before this host" in new
    assert "7 host(s): 1 changed, 1 unchanged, 3 failed, 1 unreachable, 1 skipped (not reached)" in new
    assert "gone.example.com: ssh: connect refused retry" in new


def test_rollout_lines_of_no_hosts():
    assert reports.rollout_lines([]) == render(OLD["rollout_lines"], __rows=[], __fmt=OLD["rollout_fmt"])


def test_audit_lines_match_the_old_template():
    targets = list(AUDIT) + ["missing.example.com"]
    rows = reports.audit_rows(targets, hostvars(AUDIT, "aloha_email_audit"))
    new = reports.audit_lines(rows)
    assert new == render(OLD["audit_lines"], __rows=rows, __fmt=OLD["audit_fmt"])
    assert any(line.startswith("drifted.example.com") and "port,use_tls,email_password" in line for line in new)
    assert "missing.example.com          ERROR not audited (--limit or earlier failure)" in new


def plain_text(facts):
    """FACTS without '|' or newlines in any text."""
    return json.loads(json.dumps(facts).replace("|", "/").replace("\\n", " "))


def test_audit_markdown_matches_the_old_template():
    facts = plain_text(AUDIT)
    targets = list(facts) + ["missing.example.com"]
    rows = reports.audit_rows(targets, hostvars(facts, "aloha_email_audit"))
    new = reports.audit_markdown(rows)
    assert new == render(OLD["audit_md"], __rows=rows)
    assert "vault value / \\u00e9" in new
    assert reports.audit_markdown([]) == render(OLD["audit_md"], __rows=[])


def test_audit_markdown_escapes_bars_and_joins_lines():
    """What the old template meant: '|' as '\\|', newlines as spaces. (Under
    ansible-core 2.19 its YAML block printed '\\\\|' and kept newlines inside
    {{ }}, which broke the table.)"""
    rows = reports.audit_rows(list(AUDIT), hostvars(AUDIT, "aloha_email_audit"))
    lines = reports.audit_markdown(rows).splitlines()
    assert len(lines) == 4 + len(AUDIT)
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert "| broken.example.com | error: aloha_email_facts: settings.py \\| line 3 invalid syntax | | | | | | |" in lines
    assert "for the user aloha@aloha.test \\| see the how-to's troubleshooting second line |" in lines[5]
    assert "\\\\|" not in "\n".join(lines)


def test_local_hosts_without_the_upgrade_flag_are_reported():
    """aloha.conf without [postfix] uninstall = false: a line after the
    table and a Markdown section name the host; a host with the flag, one
    in smtp mode and one not audited are not named."""
    local = dict(AUDIT["short.example.com"], drift=[], in_sync=True)
    facts = {"bare.example.com": dict(local, postfix_kept=False, postfix_flag_missing=True),
             "flagged.example.com": dict(local, postfix_kept=True, postfix_flag_missing=False),
             "synced.example.com": dict(AUDIT["synced.example.com"], postfix_kept=False, postfix_flag_missing=False),
             "broken.example.com": AUDIT["broken.example.com"]}
    rows = reports.audit_rows(list(facts), hostvars(facts, "aloha_email_audit"))
    lines = reports.audit_lines(rows)
    flagged = [line for line in lines if "lacks [postfix] uninstall = false" in line]
    assert flagged == [reports.POSTFIX_FLAG_MISSING % "bare.example.com"]
    assert flagged[0].startswith("bare.example.com: local mode") and "aloha_email role" in flagged[0]
    md = reports.audit_markdown(rows)
    section = md.split("## Local mode without the upgrade flag\n\n", 1)[1]
    assert section == "- %s\n" % (reports.POSTFIX_FLAG_MISSING % "bare.example.com")
    # Every host with the flag (or no row): no line, no section.
    for r in rows:
        r.pop("postfix_flag_missing", None)
    assert not [line for line in reports.audit_lines(rows) if "uninstall" in line]
    assert "##" not in reports.audit_markdown(rows)


def test_filters_are_registered_for_the_playbooks():
    assert sorted(reports.FilterModule().filters()) == [
        "aloha_email_audit_lines", "aloha_email_audit_markdown", "aloha_email_audit_rows",
        "aloha_email_rollout_lines", "aloha_email_rollout_rows"]
    link = ROOT / "playbooks/filter_plugins/aloha_email_reports.py"
    assert link.is_symlink() and link.resolve() == (ROOT / "plugins/filter/aloha_email_reports.py").resolve()


@pytest.fixture()
def dead_hosts(tmp_path):
    """Two Aloha hosts whose SSH port refuses: every host fails to connect."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"aloha": {"hosts": {
        "dead-1.example.com": {"ansible_host": "127.0.0.1", "ansible_port": 9},
        "dead-2.example.com": {"ansible_host": "127.0.0.1", "ansible_port": 9}}}}}}))
    return inventory


def run(tmp_path, inventory, playbook):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    return subprocess.run(["ansible-playbook", "-i", str(inventory), playbook, "-e",
                           "aloha_email_report_dir=%s" % (tmp_path / "reports")],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def test_audit_playbook_reports_through_the_filters(tmp_path, dead_hosts):
    proc = run(tmp_path, dead_hosts, "playbooks/audit.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dead-1.example.com           ERROR unreachable: " in proc.stdout
    data = json.loads((tmp_path / "reports/audit.json").read_text())
    assert [r["host"] for r in data["hosts"]] == ["dead-1.example.com", "dead-2.example.com"]
    assert all(r["error"].startswith("unreachable: ") for r in data["hosts"])
    md = (tmp_path / "reports/audit.md").read_text()
    assert md.startswith("# Outgoing email audit\n\n| host |") and "| dead-2.example.com | error: unreachable: " in md


def test_rollout_playbook_reports_through_the_filters(tmp_path, dead_hosts):
    proc = run(tmp_path, dead_hosts, "playbooks/rollout.yml")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Rollout stopped: 1 of 1 host(s)" in proc.stdout
    assert "dead-1.example.com           unreachable false   false    false       connect: unreachable" in proc.stdout
    assert "2 host(s): 0 changed, 0 unchanged, 0 failed, 1 unreachable, 1 skipped (not reached)" in proc.stdout
    data = json.loads((tmp_path / "reports/rollout.json").read_text())
    assert data["stopped"] is True
    assert [(r["host"], r["status"]) for r in data["hosts"]] == [("dead-1.example.com", "unreachable"),
                                                                 ("dead-2.example.com", "skipped")]
