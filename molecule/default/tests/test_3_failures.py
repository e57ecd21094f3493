"""A wrong password, a refused sender and a blocked port each fail the run
with the matching troubleshooting cause, and never show the secret. Bad
input is refused before the host changes. These tests exercise the
verification (send_test_email), so they turn the preflight off; the
preflight's own tests are in test_4_preflight.py.

Each verification failure is checked for its rollback before restore()
runs the role again (which would repair a broken rollback): the files are
back byte for byte with their owner, group and mode, and the running Aloha
server has loaded exactly those files."""

import pytest

from alohatest import file_checksums, file_digests, file_stats, host_names, password_forms, run_role, server_state

TARGET = host_names("aloha")[0]


def current():
    return dict(checksums=file_checksums(TARGET), stats=file_stats(TARGET))


def assert_rolled_back(before):
    """The files are as they were before the failed run, and the server
    runs on them (not on the new files the run had written)."""
    assert current() == before
    digests = file_digests(TARGET)
    running = server_state(TARGET)
    assert (running["settings"], running["secrets"]) == \
        (digests["/etc/aloha/settings.py"], digests["/etc/aloha/aloha-secrets.conf"]), (running, digests)


def restore():
    """Put the vault's working configuration back for the next test."""
    proc = run_role(TARGET, {})
    assert proc.returncode == 0, proc.stdout


def test_wrong_password_fails_with_auth_cause_and_no_secret():
    wrong = "Wr0ng%pass#;word"
    before = current()
    proc = run_role(TARGET, {"aloha_email_password": wrong, "aloha_email_verify_force": True,
                             "aloha_email_preflight": False}, verbosity=2)
    assert proc.returncode != 0
    assert "send_test_email failed (auth_refused)" in proc.stdout
    assert "aloha_email_password" in proc.stdout
    for form in password_forms(wrong):
        assert form not in proc.stdout
    assert_rolled_back(before)
    restore()


def test_refused_tokenized_sender_points_to_add_tokens(no_tokenized_senders):
    before = current()
    proc = run_role(TARGET, {"aloha_email_verify_force": True, "aloha_email_preflight": False})
    assert proc.returncode != 0
    assert "send_test_email failed (sender_refused)" in proc.stdout
    assert "aloha_email_add_tokens_to_noreply_address: false" in proc.stdout
    assert_rolled_back(before)
    # The how-to's fix works: a fixed noreply@ sender is accepted.
    proc = run_role(TARGET, {"aloha_email_add_tokens_to_noreply_address": False})
    assert proc.returncode == 0, proc.stdout


def test_blocked_port_fails_with_firewall_cause():
    before = current()
    proc = run_role(TARGET, {"aloha_email_port": 2587, "aloha_email_preflight": False})
    assert proc.returncode != 0
    assert "send_test_email failed (port_blocked)" in proc.stdout
    assert "2587" in proc.stdout
    assert_rolled_back(before)
    restore()


@pytest.mark.parametrize("extra, variable", [
    ({"aloha_email_port": 465, "aloha_email_use_tls": True}, "aloha_email_use_ssl: true"),
    ({"aloha_email_use_ssl": True, "aloha_email_use_tls": True}, "aloha_email_use_tls and aloha_email_use_ssl"),
    ({"aloha_email_password": ""}, "aloha_email_password"),
    ({"aloha_email_tokenized_noreply_address": "noreply@aloha.test"}, "aloha_email_tokenized_noreply_address"),
    ({"aloha_email_password": " padded"}, "aloha_email_password"),
])
def test_bad_input_fails_before_any_change(extra, variable):
    before = file_checksums(TARGET)
    proc = run_role(TARGET, extra)
    assert proc.returncode != 0
    assert variable in proc.stdout
    assert file_checksums(TARGET) == before
