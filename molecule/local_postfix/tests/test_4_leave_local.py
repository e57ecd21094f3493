"""Leaving local mode (here for file mode) leaves no half state: Aloha's
section is rewritten, postfix and OpenDKIM are stopped and disabled, the
smarthost password is deleted, the DKIM keys stay. Going back to local mode
signs with the same key again. Runs after the rotation (selector rot2)."""

from alohatest import (clear_messages, dkim_tags, dkim_verifies, dns_records_path, dns_txt_records, host,
                       host_names, messages, messages_for, run_role, section)

ALOHA = host_names("aloha")
CONVERGE = "molecule/local_postfix/converge.yml"


def test_file_mode_then_back_to_local():
    keys = {n: host(n).check_output("sha256sum /etc/opendkim/keys/*/*.private") for n in ALOHA}
    proc = run_role("aloha", {"aloha_email_mode": "file"}, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for name in ALOHA:
        h = host(name)
        lines, _ = section(h.file("/etc/aloha/settings.py").content_string)
        active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
        assert any(ln.startswith("EMAIL_BACKEND = ") for ln in active)
        assert not any(ln.startswith("EMAIL_HOST = ") for ln in active)
        for svc in ("postfix", "opendkim"):
            assert not h.service(svc).is_running
            assert not h.service(svc).is_enabled
        assert not h.file("/etc/postfix/sasl_passwd").exists
        assert not h.file("/etc/postfix/sasl_passwd.db").exists
        assert h.check_output("sha256sum /etc/opendkim/keys/*/*.private") == keys[name]

    clear_messages()
    proc = run_role("aloha", playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for name in ALOHA:
        h = host(name)
        for svc in ("postfix", "opendkim"):
            assert h.service(svc).is_running and h.service(svc).is_enabled
        assert h.file("/etc/postfix/sasl_passwd.db").mode == 0o600
        assert h.check_output("sha256sum /etc/opendkim/keys/*/*.private") == keys[name]
        msgs = messages_for(messages(), name)
        assert len(msgs) == 2, msgs
        records = dns_txt_records(dns_records_path(name))
        for m in msgs:
            assert dkim_tags(m["raw"])["s"] == "rot2"
            assert dkim_verifies(m["raw"], records)
