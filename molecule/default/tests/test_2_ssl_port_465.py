"""Switching the same hosts to port 465 with SSL: --check --diff previews
it (the settings diff once per host, no secret, nothing changed); the run
sends both emails over TLS from the first byte, and touches only the
section."""

import pytest

from alohatest import (clear_messages, file_checksums, host, host_names, messages, messages_for, password_forms,
                       run_role, section, task_output, vault_password)

ALOHA = host_names("aloha")
SSL_VARS = {"aloha_email_port": 465, "aloha_email_use_ssl": True, "aloha_email_use_tls": False}


@pytest.fixture(scope="module")
def previewed():
    before = {n: file_checksums(n) for n in ALOHA}
    proc = run_role("aloha", SSL_VARS, check=True, diff=True)
    return before, {n: file_checksums(n) for n in ALOHA}, proc


def test_check_diff_previews_the_switch_without_secret_or_change(previewed):
    before, after, proc = previewed
    assert proc.returncode == 0, proc.stdout
    assert after == before
    # Once per host: the validation's dry run shows no diff of its own.
    assert proc.stdout.count("-EMAIL_PORT = 587") == len(ALOHA), proc.stdout
    assert proc.stdout.count("+EMAIL_PORT = 465") == len(ALOHA)
    assert proc.stdout.count("+EMAIL_USE_SSL = True") == len(ALOHA)
    for form in password_forms(vault_password()):
        assert form not in proc.stdout


@pytest.fixture(scope="module")
def switched(previewed):
    clear_messages()
    before = {n: host(n).file("/etc/aloha/settings.py").content_string for n in ALOHA}
    proc = run_role("aloha", SSL_VARS)
    assert proc.returncode == 0, proc.stdout
    return before, proc


def test_run_reports_the_change_and_verification(switched):
    """Each host: the test emails sent, then Aloha restarted (task headers
    are printed for skipped tasks too: the result lines count)."""
    _, proc = switched
    for name in ALOHA:
        assert "ok: [%s]" % name in task_output(proc.stdout, "Send Aloha's two test emails with manage.py send_test_email.")
        assert "changed: [%s]" % name in task_output(proc.stdout, "Restart the Aloha server.")


@pytest.mark.parametrize("name", ALOHA)
def test_section_now_uses_ssl_on_465(name, switched):
    before, _ = switched
    now = host(name).file("/etc/aloha/settings.py").content_string
    lines, rest = section(now)
    assert "EMAIL_PORT = 465" in lines and "EMAIL_USE_SSL = True" in lines
    assert not any(ln.startswith("EMAIL_USE_TLS") for ln in lines)
    assert rest == section(before[name])[1]


@pytest.mark.parametrize("name", ALOHA)
def test_both_emails_went_over_implicit_tls(name, switched):
    msgs = messages_for(messages(), name)
    assert len(msgs) == 2
    for m in msgs:
        assert (m["port"], m["tls"], m["auth_user"]) == (465, True, "aloha@aloha.test")
