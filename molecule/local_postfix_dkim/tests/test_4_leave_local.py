"""Leaving local mode (for file mode or a provider) leaves no half state:
Aloha's section is rewritten, postfix and OpenDKIM are stopped and
disabled, the smarthost password is deleted, the DKIM keys stay. Going back
to local mode signs with the same key again. A switch to a provider that
fails its verification is rolled back to local mode, which still works.
Runs after the rotation (selector rot2)."""

import pytest

from alohatest import (clear_messages, dkim_tags, file_checksums, host, host_names, password_forms, recipient, run_role,
                       section, send_test_email, signed_test_emails, two_test_emails)

ALOHA = host_names("aloha")
CONVERGE = "molecule/local_postfix/converge.yml"
KEYS = ("/etc/opendkim/keys/*/*.private",)
PROVIDER = {"aloha_email_mode": "smtp", "aloha_email_host": "smtp.aloha.test",
            "aloha_email_host_user": "aloha@aloha.test", "aloha_email_password": "s3cret-Pa55"}


def assert_local_mode_works(name, selector="rot2"):
    """postfix and OpenDKIM run, and both test emails went through postfix signed."""
    h = host(name)
    for svc in ("postfix", "opendkim"):
        assert h.service(svc).is_running and h.service(svc).is_enabled
    assert h.file("/etc/postfix/sasl_passwd.db").mode == 0o600
    for m in signed_test_emails(name):
        assert dkim_tags(m["raw"])["s"] == selector


@pytest.mark.parametrize("extra, setting", [
    ({"aloha_email_mode": "file"}, "EMAIL_BACKEND = "),
    (PROVIDER, 'EMAIL_HOST = "smtp.aloha.test"'),
], ids=["file", "provider"])
def test_leave_local_mode_then_come_back(extra, setting):
    keys = {n: file_checksums(n, KEYS) for n in ALOHA}
    clear_messages()
    proc = run_role("aloha", extra, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for name in ALOHA:
        h = host(name)
        lines, _ = section(h.file("/etc/aloha/settings.py").content_string)
        active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
        assert any(ln.startswith(setting) for ln in active), active
        assert 'EMAIL_HOST = "localhost"' not in active
        for svc in ("postfix", "opendkim"):
            assert not h.service(svc).is_running
            assert not h.service(svc).is_enabled
        assert not h.file("/etc/postfix/sasl_passwd").exists
        assert not h.file("/etc/postfix/sasl_passwd.db").exists
        assert file_checksums(name, KEYS) == keys[name]
        if extra is PROVIDER:
            # Straight from Aloha to the provider: no postfix, no signature.
            for m in two_test_emails(name):
                assert (m["port"], m["tls"]) == (587, True)
                assert "(Postfix)" not in m["raw"] and "DKIM-Signature" not in m["raw"]

    clear_messages()
    proc = run_role("aloha", playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for name in ALOHA:
        assert file_checksums(name, KEYS) == keys[name]
        assert_local_mode_works(name)


def test_failed_switch_to_a_provider_keeps_local_mode_working():
    """The provider refuses the password (preflight off, so the change is
    made): the role restores settings.py and aloha-secrets.conf, and postfix
    and OpenDKIM, still running, carry Aloha's mail as before."""
    wrong = "not-the-Pa55word"
    before = {n: file_checksums(n) for n in ALOHA}
    proc = run_role("aloha", dict(PROVIDER, aloha_email_password=wrong, aloha_email_preflight=False),
                    playbook=CONVERGE)
    assert proc.returncode != 0, proc.stdout
    assert "The previous configuration was restored" in proc.stdout
    assert not any(form in proc.stdout for form in password_forms(wrong))
    clear_messages()
    for name in ALOHA:
        assert file_checksums(name) == before[name]
        assert send_test_email(name, recipient(name)).rc == 0
        assert_local_mode_works(name)
