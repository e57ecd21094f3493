"""The role's audit entry point (tasks_from: audit) declares what
tasks/audit.yml reads: aloha_email_audit_preflight, and the inventory
variables it compares the host with, each exactly as the main entry point
declares it (type, default, choices, no_log)."""

import re
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles/aloha_email"
SPECS = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]
AUDIT = SPECS["audit"]["options"]
MAIN = SPECS["main"]["options"]
README = (ROLE / "README.md").read_text()


def test_audit_preflight_is_declared():
    spec = AUDIT["aloha_email_audit_preflight"]
    assert spec["type"] == "bool" and spec["default"] is False
    assert "aloha_email_audit_preflight" not in MAIN


def test_shared_variables_match_the_main_entry_point():
    for name, spec in AUDIT.items():
        if name == "aloha_email_audit_preflight":
            continue
        keys = set(spec) | set(MAIN[name])
        keys.discard("description")
        assert {k: spec.get(k) for k in keys} == {k: MAIN[name].get(k) for k in keys}, name


def test_audit_declares_every_inventory_variable_it_reads():
    tasks = (ROLE / "tasks/audit.yml").read_text()
    read = set(re.findall(r"\baloha_email_[a-z_]+\b", tasks)) - {"aloha_email_audit", "aloha_email_facts"}
    read = {name for name in read if name in MAIN or name == "aloha_email_audit_preflight"}
    assert read <= set(AUDIT), sorted(read - set(AUDIT))
    # What vars/main.yml derives the expected SMTP settings from.
    assert {"aloha_email_provider", "aloha_email_ses_region", "aloha_email_host", "aloha_email_port",
            "aloha_email_use_tls", "aloha_email_use_ssl", "aloha_email_host_user"} <= set(AUDIT)


def test_readme_documents_the_exported_facts():
    section = README.split("## Variables exported by the role", 1)[1].split("\n## ", 1)[0]
    for key in ("aloha_email_result", "changed", "verified", "rolled_back", "stage", "cause",
                "aloha_email_audit", "aloha_email_audit_preflight"):
        assert "`%s`" % key in section, key
