"""Cases the SMTP fixture makes real (issue 13, point 9): an unknown
recipient refused by the server, a sender allowed globally but not for
the account that logs in, a certificate from the trusted test CA issued
for another host name, and an operator's own edits met by a converge (an
active EMAIL_* assignment after the role's section, a hand-written
email_password line). Each failure leaves the files as they were, and
Aloha neither restarted nor reloaded.

And the sender refusals postfix cannot produce (issue 9): Exim's sender
verification at RCPT TO and Microsoft 365's SendAs check after DATA, each
in the server's own words. Either is sender_refused with the how-to's fix
(turn the tokens off), never recipient_refused; the preflight, which ends
its sessions before DATA, catches Exim's and cannot see Microsoft's, so
the verification classifies that one and the run rolls back."""

import json
import re

import pytest

from alohatest import (ROOT, clear_messages, file_checksums, file_stats, host, host_names, run_role, secrets_value,
                       section, server_state, settings_compile_check, smtp_host, smtp_log_since, smtp_log_size,
                       task_output, two_test_emails, vault_password, write_file)

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


def host_state():
    """The files byte for byte with owner, group and mode, and what the
    stand-in Aloha server runs (restart count, pid, the files it loaded)."""
    return dict(files=file_checksums(TARGET), stats=file_stats(TARGET), server=server_state(TARGET))


def failed(extra, preflight, verbosity=0):
    before = host_state()
    proc = run_role(TARGET, dict(extra, aloha_email_preflight=preflight, aloha_email_verify_force=True),
                    verbosity=verbosity)
    assert proc.returncode != 0, proc.stdout
    assert host_state() == before
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


RESULT_TASK = "Record what the role did on this host, for rollout summaries."
LEFT_UNTOUCHED = "Nothing was changed."
LEFT_RESTORED = "The previous configuration was restored; Aloha was not restarted and still runs it."


def refuse_tokenized_sender(smtp_config, how):
    """The account may send as support@ and the fixed noreply@ only; the
    server refuses the tokenized noreply-<token>@ sender as HOW says
    (files/server.py: "exim" at RCPT TO, "m365" after DATA)."""
    smtp, config = smtp_config
    config["account_senders"] = {"aloha@aloha.test": {
        "senders": [r"support@aloha\.test", r"noreply@[a-z0-9.-]+\.aloha\.test"], "refuse": how}}
    write_file(smtp, CONFIG, json.dumps(config))


def assert_sender_refused(out, stage, left):
    """OUT (a -v run) fails at STAGE with cause sender_refused, the
    how-to's fix for the tokenized sender, the message saying what the run
    left, and aloha_email_result saying so too."""
    marker = "%s (sender_refused): " % stage
    assert marker in out, out
    # As one line: the yaml callback folds long messages at spaces.
    failure = " ".join(out[out.index(marker):].split())
    assert re.search(r"\. Fix: the SMTP provider refused the tokenized sender noreply-[a-z2-7]{24}@%s\.aloha\.test: "
                     % re.escape(TARGET), failure), failure
    assert "aloha_email_add_tokens_to_noreply_address: false" in failure
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS = False" in failure
    assert left in failure
    assert "recipient_refused" not in out
    result = task_output(out, RESULT_TASK)
    assert re.search(r"^\s+cause: sender_refused$", result, re.MULTILINE), result
    assert re.search(r"^\s+stage: %s$" % ("preflight" if stage.startswith("SMTP preflight") else "verify"),
                     result, re.MULTILINE), result


@pytest.mark.parametrize("preflight", [True, False])
def test_sender_refused_at_rcpt_in_exims_words(smtp_config, preflight):
    refuse_tokenized_sender(smtp_config, "exim")
    offset = smtp_log_size()
    out = failed(PENDING, preflight, verbosity=1)
    stage = "SMTP preflight failed" if preflight else "send_test_email failed"
    assert_sender_refused(out, stage, LEFT_UNTOUCHED if preflight else LEFT_RESTORED)
    # Exim's words reached the role, and it was the server that said them.
    assert re.search(r"Verification failed for <noreply-[a-z2-7]{24}@[^>]+>.*Sender verify failed", out), out
    log = smtp_log_since(offset)
    assert re.search(r"sender refused at RCPT TO \(like exim\) noreply-[a-z2-7]{24}@", log), log
    assert ("DATA accepted" in log) is not preflight


def test_sender_refused_after_data_in_microsoft_365s_words(smtp_config):
    refuse_tokenized_sender(smtp_config, "m365")
    offset = smtp_log_size()
    out = failed(PENDING, True, verbosity=1)
    # The preflight took every sender: Microsoft 365 says no only after DATA.
    assert re.search(r"SMTP preflight passed: \S+ \(STARTTLS\) accepted 3 senders", " ".join(out.split())), out
    assert_sender_refused(out, "send_test_email failed", LEFT_RESTORED)
    assert "5.7.60 SMTP; Client does not have permissions to send as this sender" in out
    log = smtp_log_since(offset)
    refused = re.search(r"MAIL FROM accepted (noreply-[a-z2-7]{24}@\S+)\n.*RCPT TO accepted \S+\n"
                        r".*sender refused at DATA \(like m365\) (\S+)", log)
    assert refused and refused.group(1) == refused.group(2), log


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
