"""postfix's and dovecot's other refusals, from the preflight and from the
verification: a wrong password (dovecot says no: "535 5.7.8 Error:
authentication failed") is auth_refused and never shown; an unknown
mailbox at the provider ("550 5.1.1 <...>: Recipient address rejected:
User unknown in virtual mailbox table") is recipient_refused. Each leaves
the host's files as they were."""

import pytest

from alohatest import file_checksums, file_stats, host_names, password_forms, run_role

# (host, whether the preflight runs): the preflight on the 587 host, the
# verification on the 465 host.
CASES = [(host_names("aloha_submission")[0], True), (host_names("aloha_submissions")[0], False)]
IDS = ["preflight-587", "verification-465"]
WRONG = "Wr0ng%pass#;word"
UNKNOWN = "nobody@provider.test"


def failure(proc, preflight):
    """The line that names the cause, from the preflight or the verification."""
    marker = "SMTP preflight failed (" if preflight else "send_test_email failed ("
    line = next((ln for ln in proc.stdout.splitlines() if marker in ln), "")
    assert line, proc.stdout
    return line[line.index(marker):]


def run(name, extra):
    before = (file_checksums(name), file_stats(name))
    proc = run_role(name, extra)
    assert proc.returncode != 0, proc.stdout
    assert (file_checksums(name), file_stats(name)) == before
    return proc


@pytest.mark.parametrize("name, preflight", CASES, ids=IDS)
def test_wrong_password_is_auth_refused(name, preflight):
    extra = {"aloha_email_password": WRONG}
    if not preflight:
        extra["aloha_email_preflight"] = False
    proc = run(name, extra)
    line = failure(proc, preflight)
    assert "failed (auth_refused)" in line
    assert "aloha_email_password" in line
    if preflight:
        assert "535" in line and "authentication failed" in line, line
    for form in password_forms(WRONG, user="aloha-tokens@provider.test"):
        assert form not in proc.stdout


@pytest.mark.parametrize("name, preflight", CASES, ids=IDS)
def test_unknown_recipient_is_recipient_refused(name, preflight):
    extra = {"aloha_email_test_recipient": UNKNOWN}
    if preflight:
        # The preflight runs when the run would change something: an
        # explicit tokenized address that says what Aloha's default says.
        extra["aloha_email_tokenized_noreply_address"] = "noreply-{token}@aloha.test"
    else:
        # Nothing changes; the verification runs anyway.
        extra.update(aloha_email_preflight=False, aloha_email_verify_force=True)
    proc = run(name, extra)
    line = failure(proc, preflight)
    assert "failed (recipient_refused)" in line
    assert "User unknown in virtual mailbox table" in line
    assert UNKNOWN in line and "aloha_email_test_recipient" in line
