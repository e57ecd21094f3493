"""After converge + idempotence against Debian's postfix + dovecot: each
Aloha host's settings name the provider, and both of Aloha's test emails
reached the provider's maildir through submission (587, STARTTLS) or
submissions (465, TLS from the first byte), logged in as the account that
owns the tokenized senders."""

import re

import pytest

from alohatest import PROVIDER_NAME, TOKENIZED, host, host_names, provider_emails, provider_recipient, section

ALOHA = host_names("aloha")
# host -> (port, EMAIL_USE_TLS/EMAIL_USE_SSL line) as molecule.yml's groups set them
PORTS = dict([(h, (587, "EMAIL_USE_TLS = True")) for h in host_names("aloha_submission")]
             + [(h, (465, "EMAIL_USE_SSL = True")) for h in host_names("aloha_submissions")])
USER = "aloha-tokens@provider.test"


def test_one_host_per_port():
    assert sorted(p for p, _ in PORTS.values()) == [465, 587]
    assert sorted(PORTS) == sorted(ALOHA)


@pytest.mark.parametrize("name", ALOHA)
def test_section_names_the_provider(name):
    lines, _ = section(host(name).file("/etc/aloha/settings.py").content_string)
    active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    port, tls_line = PORTS[name]
    for expected in ('EMAIL_HOST = "%s"' % PROVIDER_NAME, 'EMAIL_HOST_USER = "%s"' % USER,
                     "EMAIL_PORT = %d" % port, tls_line):
        assert expected in active, active


@pytest.mark.parametrize("name", ALOHA)
def test_both_test_emails_are_in_the_providers_maildir(name):
    msgs = provider_emails(name)
    assert len(msgs) == 2, msgs
    admin, noreply = sorted(msgs, key=lambda m: m["headers"]["Subject"])
    assert admin["headers"]["Subject"] == "Aloha email test"
    assert admin["headers"]["From"] == "aloha-admin@aloha.test"
    assert admin["mail_from"] == "aloha-admin@aloha.test"
    assert noreply["headers"]["Subject"] == "Aloha noreply email test"
    assert re.fullmatch(TOKENIZED.pattern + r"aloha\.test", noreply["headers"]["From"]), noreply["headers"]
    assert noreply["mail_from"] == noreply["headers"]["From"]
    assert TOKENIZED.match(noreply["mail_from"])
    port, _ = PORTS[name]
    for m in msgs:
        assert m["mailbox"] == "provider.test/ops"
        assert m["rcpt_tos"] == [provider_recipient(name)]
        assert m["headers"]["To"] == provider_recipient(name)
        # postfix's log: which service took it, and the SASL login.
        assert (m["port"], m["tls"], m["auth_user"]) == (port, True, USER)
        assert "(Authenticated sender: %s)" % USER in m["raw"]
        assert "by %s (Postfix) with ESMTPSA" % PROVIDER_NAME in " ".join(m["headers"]["Received"].split())
