"""playbooks/audit.yml on the local-mode hosts: a host whose aloha.conf
lacks [postfix] uninstall = false (Aloha's next upgrade would uninstall
postfix) is reported, on screen and in audit.json/audit.md; the host with
the flag, as local mode wrote it, is not."""

import json

from alohatest import host, host_names, run_role, write_file

ALOHA = host_names("aloha")
TARGET = ALOHA[-1]
ALOHA_CONF = "/etc/aloha/aloha.conf"


def test_audit_reports_a_local_host_without_the_postfix_flag(tmp_path):
    h = host(TARGET)
    original = h.file(ALOHA_CONF).content_string
    assert "uninstall = false" in original
    write_file(h, ALOHA_CONF, "[machine]\ndeploy_type = production\n")
    try:
        # localhost writes the report.
        proc = run_role("aloha,localhost", {"aloha_email_report_dir": str(tmp_path)}, playbook="playbooks/audit.yml")
    finally:
        write_file(h, ALOHA_CONF, original)
    assert proc.returncode == 0, proc.stdout
    rows = {r["host"]: r for r in json.loads((tmp_path / "audit.json").read_text())["hosts"]}
    for name in ALOHA:
        assert rows[name]["mode"] == "local", rows[name]
        assert rows[name]["postfix_kept"] is (name != TARGET)
        assert rows[name]["postfix_flag_missing"] is (name == TARGET)
    assert {"setting": "aloha.conf [postfix] uninstall", "host": "not false", "inventory": "false"} \
        in rows[TARGET]["drift"]
    reported = [line for line in proc.stdout.splitlines() if "lacks [postfix] uninstall = false" in line]
    assert len(reported) == 1 and reported[0].strip().startswith(TARGET + ": local mode"), proc.stdout
    md = (tmp_path / "audit.md").read_text().split("## Local mode without the upgrade flag", 1)[1]
    assert TARGET in md and not [name for name in ALOHA if name != TARGET and name in md]
