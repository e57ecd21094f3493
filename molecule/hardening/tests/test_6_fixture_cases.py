"""Cases the SMTP fixture makes real (issue 13, point 9): an unknown
recipient refused by the server, a sender allowed globally but not for
the account that logs in, a certificate from the trusted test CA issued
for another host name, and an operator's own edits met by a converge (an
active EMAIL_* assignment after the role's section, a hand-written
email_password line). Each failure leaves the files as they were."""

import json

import pytest

from alohatest import (ROOT, clear_messages, file_checksums, host, host_names, run_role, secrets_value, section,
                       settings_compile_check, smtp_host, two_test_emails, vault_password, write_file)

TARGET = host_names("aloha")[0]
CONFIG = "/etc/aloha-test-smtp/config.json"
PENDING = {"aloha_email_noreply_address": "noreply@pending.aloha.test"}


@pytest.fixture
def smtp_config():
    """The SMTP server's config.json, put back after the test."""
    smtp = smtp_host()
    original = smtp.file(CONFIG).content_string
    config = json.loads(original)
    config.setdefault("allowed_recipients", [r"[^@\s]+@example\.net", r"[^@\s]+@example\.org",
                                             r"[^@\s]+@([a-z0-9-]+\.)*aloha\.test"])
    write_file(smtp, CONFIG, json.dumps(config))
    yield smtp, config
    write_file(smtp, CONFIG, original)


def failed(extra, preflight):
    before = file_checksums(TARGET)
    proc = run_role(TARGET, dict(extra, aloha_email_preflight=preflight, aloha_email_verify_force=True))
    assert proc.returncode != 0, proc.stdout
    assert file_checksums(TARGET) == before
    return proc.stdout


@pytest.mark.parametrize("preflight", [True, False])
def test_unknown_recipient_is_refused_by_the_server(smtp_config, preflight):
    out = failed(dict(PENDING, aloha_email_test_recipient="ops@unknown.example.com"), preflight)
    stage = "SMTP preflight failed" if preflight else "send_test_email failed"
    assert "%s (recipient_refused)" % stage in out, out
    assert "ops@unknown.example.com" in out
    # The server logged the refusal: it was the server, not the role, that said no.
    log = smtp_host().file("/var/log/aloha-test-smtp.log").content_string
    assert "RCPT TO refused ops@unknown.example.com" in log


def test_sender_allowed_globally_but_not_for_the_account_is_refused(smtp_config):
    smtp, config = smtp_config
    # The global list allows the tokenized noreply sender; the account may
    # send only as support@.
    config["account_senders"] = {"aloha@aloha.test": [r"support@aloha\.test"]}
    write_file(smtp, CONFIG, json.dumps(config))
    out = failed({}, False)
    assert "send_test_email failed (sender_refused)" in out, out
    assert "aloha_email_add_tokens_to_noreply_address" in out
    # With the account's own sender list covering both, the same run passes.
    config["account_senders"]["aloha@aloha.test"] += config["allowed_senders"]
    write_file(smtp, CONFIG, json.dumps(config))
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_verify_force": True})
    assert proc.returncode == 0, proc.stdout
    two_test_emails(TARGET)


@pytest.fixture
def wrong_host_certificate():
    """The SMTP server presents wronghost.crt: signed by the test CA the
    Aloha host trusts, issued for wrong-host.aloha.test."""
    smtp = smtp_host()
    ca = ROOT / ".cache/test-ca"
    saved = {name: smtp.check_output("base64 -w0 /etc/aloha-test-smtp/%s" % name)
             for name in ("server.crt", "server.key")}
    write_file(smtp, "/etc/aloha-test-smtp/server.crt", (ca / "wronghost.crt").read_text())
    write_file(smtp, "/etc/aloha-test-smtp/server.key", (ca / "wronghost.key").read_text())
    smtp.check_output("systemctl restart aloha-test-smtp && sleep 2")
    assert "wrong-host.aloha.test" in smtp.check_output(
        "openssl x509 -noout -ext subjectAltName -in /etc/aloha-test-smtp/server.crt")
    yield
    for name, data in saved.items():
        smtp.check_output("echo %s | base64 -d > /etc/aloha-test-smtp/%s" % (data, name))
    smtp.check_output("systemctl restart aloha-test-smtp && sleep 2")


@pytest.mark.parametrize("preflight", [True, False])
def test_trusted_certificate_for_another_name_is_refused(wrong_host_certificate, preflight):
    out = failed(PENDING, preflight)
    stage = "SMTP preflight failed" if preflight else "send_test_email failed"
    assert "%s (certificate_untrusted)" % stage in out, out
    assert "aloha_email_host" in out


def test_converge_meets_an_operator_override_and_a_hand_written_password():
    h = host(TARGET)
    settings = h.file("/etc/aloha/settings.py").content_string
    secrets = h.file("/etc/aloha/aloha-secrets.conf").content_string
    try:
        # An operator's active override after the section (Python: the last
        # assignment wins), and a password line written by hand.
        write_file(h, "/etc/aloha/settings.py", settings + "\nEMAIL_PORT = 2525  # operator's test\n")
        lines = [ln for ln in secrets.splitlines() if not ln.startswith("email_password")]
        write_file(h, "/etc/aloha/aloha-secrets.conf",
                   "\n".join(lines).replace("[secrets]", "[secrets]\nemail_password=hand-written-old", 1) + "\n")
        clear_messages()
        proc = run_role(TARGET, {})
        assert proc.returncode == 0, proc.stdout
        new = h.file("/etc/aloha/settings.py").content_string
        assert settings_compile_check(h).rc == 0
        section_lines, other = section(new)
        assert "EMAIL_PORT = 587" in section_lines
        # The override is disabled, not deleted, and says why.
        disabled = [ln for ln in other if "EMAIL_PORT = 2525" in ln]
        assert len(disabled) == 1 and disabled[0].lstrip().startswith("#"), disabled
        assert not [ln for ln in other if ln.startswith("EMAIL_PORT")]
        # One password line, the vault's.
        text = h.file("/etc/aloha/aloha-secrets.conf").content_string
        assert len([ln for ln in text.splitlines() if ln.replace(" ", "").startswith("email_password=")]) == 1
        assert "hand-written-old" not in text
        assert secrets_value(h).strip() == repr(vault_password())
        # And Aloha sends on the role's port with the vault's password.
        admin, noreply = two_test_emails(TARGET)
        assert admin["port"] == 587 and admin["auth_user"] == "aloha@aloha.test"
    finally:
        write_file(h, "/etc/aloha/settings.py", settings)
        write_file(h, "/etc/aloha/aloha-secrets.conf", secrets)
        assert run_role(TARGET, {"aloha_email_verify_force": True}).returncode == 0
