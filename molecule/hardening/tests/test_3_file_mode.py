"""File-backend mode: EMAIL_BACKEND and EMAIL_FILE_PATH in the section, the
directory made for the aloha user, the two test emails checked on disk;
switching back to a provider removes the two lines."""

import pytest

from alohatest import clear_messages, host, host_names, messages, messages_for, run_role, section

TARGET = host_names("aloha")[0]
EMAILS = "/var/log/aloha/emails"


@pytest.fixture(scope="module")
def file_mode():
    clear_messages()
    h = host(TARGET)
    h.run("rm -rf %s" % EMAILS)
    proc = run_role(TARGET, {"aloha_email_mode": "file"})
    return h, proc


def test_file_mode_run_succeeds_and_verifies_on_disk(file_mode):
    h, proc = file_mode
    assert proc.returncode == 0, proc.stdout
    d = h.file(EMAILS)
    assert d.is_directory and (d.user, d.group, d.mode) == ("aloha", "aloha", 0o750)
    text = h.check_output("cat %s/*.log" % EMAILS)
    assert "Subject: Aloha email test" in text and "Subject: Aloha noreply email test" in text
    assert messages_for(messages(), TARGET) == []


def test_file_mode_section(file_mode):
    h, _ = file_mode
    lines, _ = section(h.file("/etc/aloha/settings.py").content_string)
    active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    assert 'EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"' in active
    assert 'EMAIL_FILE_PATH = "%s"' % EMAILS in active
    assert not any(ln.startswith("EMAIL_HOST") for ln in active)


def test_switching_back_to_provider_removes_the_file_backend(file_mode):
    h, _ = file_mode
    proc = run_role(TARGET)
    assert proc.returncode == 0, proc.stdout
    text = h.file("/etc/aloha/settings.py").content_string
    active = [ln for ln in text.splitlines() if ln.startswith("EMAIL_")]
    assert not any(ln.startswith(("EMAIL_BACKEND", "EMAIL_FILE_PATH")) for ln in active)
    assert len(messages_for(messages(), TARGET)) == 2


def test_hand_added_file_backend_lines_are_disabled():
    """The how-to has operators add the two lines by hand; a provider run
    must neutralise them wherever they are."""
    h = host(TARGET)
    clear_messages()
    h.check_output("printf \"EMAIL_BACKEND = 'django.core.mail.backends.filebased.EmailBackend'\\n"
                   "EMAIL_FILE_PATH = '/var/log/aloha/emails'\\n\" >> /etc/aloha/settings.py")
    proc = run_role(TARGET)
    assert proc.returncode == 0, proc.stdout
    text = h.file("/etc/aloha/settings.py").content_string
    assert "# EMAIL_BACKEND = 'django.core.mail.backends.filebased.EmailBackend'" in text
    assert "# Disabled by Ansible (role aloha_email): EMAIL_BACKEND" in text
    assert len(messages_for(messages(), TARGET)) == 2
