"""State after converge + idempotence: the settings section, the secrets
file, one restart, and the two test emails at the SMTP server."""

import re

import pytest

from alohatest import TOKENIZED, host, host_names, read_secrets, section, two_test_emails, vault_password

ALOHA = host_names("aloha")

EXPECTED_SETTINGS = [
    'EMAIL_HOST = "smtp.aloha.test"',
    'EMAIL_HOST_USER = "aloha@aloha.test"',
    "EMAIL_PORT = 587",
    "EMAIL_USE_TLS = True",
    "ADD_TOKENS_TO_NOREPLY_ADDRESS = True",
]


@pytest.mark.parametrize("name", ALOHA)
def test_section_holds_exactly_the_expected_settings(name):
    text = host(name).file("/etc/aloha/settings.py").content_string
    lines, _ = section(text)
    active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    assert active == EXPECTED_SETTINGS
    assert "EMAIL_HOST_PASSWORD" not in text
    assert vault_password() not in text


@pytest.mark.parametrize("name", ALOHA)
def test_rest_of_settings_is_unchanged(name):
    h = host(name)
    seed = h.file("/var/lib/aloha-standin/seed/settings.py").content_string
    now = h.file("/etc/aloha/settings.py").content_string
    assert section(now)[1] == section(seed)[1]


@pytest.mark.parametrize("name", ALOHA)
def test_secrets_file_keeps_other_keys_and_has_the_password(name):
    h = host(name)
    f = h.file("/etc/aloha/aloha-secrets.conf")
    assert (f.user, f.group, f.mode) == ("aloha", "aloha", 0o640)
    seed = read_secrets(h.file("/var/lib/aloha-standin/seed/aloha-secrets.conf").content_string)
    now = read_secrets(f.content_string)
    assert now.get("secrets", "email_password") == vault_password()
    for key, value in seed.items("secrets"):
        assert now.get("secrets", key) == value
    # Comments and order of the operator's lines survive byte for byte.
    seed_text = h.file("/var/lib/aloha-standin/seed/aloha-secrets.conf").content_string
    assert [ln for ln in f.content_string.splitlines() if not ln.startswith("email_password")] == \
        seed_text.splitlines()


@pytest.mark.parametrize("name", ALOHA)
def test_server_was_restarted_exactly_once(name):
    log = host(name).file("/var/log/aloha/server.log").content_string
    assert log.count("Restarting django server") == 1
    assert log.count("Done!") == 1
    # Started at boot, then once by restart-server.
    assert len(re.findall(r"aloha-server started pid \d+", log)) == 2
    assert host(name).service("aloha-server").is_running


@pytest.mark.parametrize("name", ALOHA)
def test_smtp_server_holds_the_two_test_emails(name):
    admin, noreply = two_test_emails(name)
    assert admin["headers"]["From"] == "support@aloha.test"
    assert TOKENIZED.match(noreply["headers"]["From"])
    for m in (admin, noreply):
        assert (m["port"], m["tls"], m["auth_user"]) == (587, True, "aloha@aloha.test")
