"""Postfix's own refusal of a sender the login does not own: submission
with reject_sender_login_mismatch and the default smtpd_delay_reject = yes
answers RCPT TO (not MAIL FROM) with "553 5.7.1 <noreply-...@aloha.test>:
Sender address rejected: not owned by user aloha@provider.test". The
account aloha@provider.test owns aloha-admin@ and noreply@aloha.test but
not the tokenized noreply-<token>@aloha.test. Whether the preflight or the
verification meets it, the run fails with cause sender_refused and the
how-to's fix (turn the tokens off), shows the login (not a mask), and
leaves the host's files exactly as they were. Turning the tokens off then
works with that account."""

import re

import pytest

from alohatest import (TOKENIZED, file_checksums, file_stats, host, host_names, provider_emails, run_role,
                       section)

ALOHA = host_names("aloha")
RESTRICTED = "aloha@provider.test"
REFUSAL = re.compile(r"553,? b?'?5\.7\.1 <(noreply-[a-z2-7]{24}@aloha\.test)>: Sender address rejected: "
                     r"not owned by user " + re.escape(RESTRICTED))


def run_leaves_files_alone(name, extra):
    """Run the role on NAME with EXTRA; it fails, and settings.py and the
    secrets file keep their content, owner, group and mode."""
    before = (file_checksums(name), file_stats(name))
    proc = run_role(name, extra)
    assert proc.returncode != 0, proc.stdout
    assert (file_checksums(name), file_stats(name)) == before
    return proc


def assert_sender_refused(text):
    """TEXT (the failure and its fix) names the cause, quotes postfix's
    refusal with the login readable, and gives the how-to's fix."""
    assert REFUSAL.search(text), text
    assert "not owned by user ****" not in text
    assert "aloha_email_add_tokens_to_noreply_address: false" in text
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS = False" in text


@pytest.mark.parametrize("name", ALOHA)
def test_preflight_reports_sender_refused(name, no_mail):
    proc = run_leaves_files_alone(name, {"aloha_email_host_user": RESTRICTED})
    line = next((ln for ln in proc.stdout.splitlines() if "SMTP preflight failed (" in ln), "")
    assert "SMTP preflight failed (sender_refused): " in line, proc.stdout
    assert_sender_refused(line)
    assert "send_test_email" not in proc.stdout.split("SMTP preflight failed (")[-1]
    # The preflight ends every session before DATA.
    assert provider_emails(name, count=1, timeout=3) == []


@pytest.mark.parametrize("name", ALOHA)
def test_verification_reports_sender_refused_and_rolls_back(name):
    proc = run_leaves_files_alone(name, {"aloha_email_host_user": RESTRICTED, "aloha_email_preflight": False})
    assert "send_test_email failed (sender_refused)" in proc.stdout, proc.stdout
    assert_sender_refused(proc.stdout[proc.stdout.index("send_test_email failed (sender_refused)"):])
    assert "recipient_refused" not in proc.stdout


def test_tokens_off_works_with_the_restricted_account(no_mail):
    name = ALOHA[0]
    proc = run_role(name, {"aloha_email_host_user": RESTRICTED, "aloha_email_add_tokens_to_noreply_address": False})
    assert proc.returncode == 0, proc.stdout
    lines, _ = section(host(name).file("/etc/aloha/settings.py").content_string)
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS = False" in lines
    msgs = provider_emails(name)
    assert len(msgs) == 2, msgs
    admin, noreply = sorted(msgs, key=lambda m: m["headers"]["Subject"])
    assert admin["headers"]["From"] == "aloha-admin@aloha.test"
    assert (noreply["headers"]["Subject"], noreply["headers"]["From"]) == ("Aloha noreply email test",
                                                                           "noreply@aloha.test")
    assert noreply["mail_from"] == "noreply@aloha.test"
    assert [m["auth_user"] for m in msgs] == [RESTRICTED, RESTRICTED]

    # Back to the scenario's settings: the tokenized sender again.
    proc = run_role(name, {})
    assert proc.returncode == 0, proc.stdout
    noreply = [m for m in provider_emails(name, count=4) if m["headers"]["Subject"] == "Aloha noreply email test"]
    assert TOKENIZED.match(noreply[-1]["headers"]["From"])
