"""Local mode after converge + idempotence: Aloha points at postfix on
loopback, postfix relays through the SMTP test server (587, STARTTLS, AUTH)
and OpenDKIM signs both test emails with keys whose DNS records verify."""

import re

import pytest

from alohatest import (address, dkim_tags, dkim_verifies, dns_records_path, dns_txt_records, host, host_names, messages,
                       messages_for, postconf, section, signed_test_emails, smtp_host)

ALOHA = host_names("aloha")
PASSWORD = "s3cret-Pa55"  # the SMTP fixture's default account, as in vault.yml

EXPECTED_SETTINGS = [
    'EMAIL_HOST = "localhost"',
    'EMAIL_HOST_USER = ""',
    "EMAIL_PORT = 25",
    "EMAIL_USE_TLS = False",
    "ADD_TOKENS_TO_NOREPLY_ADDRESS = True",
]


def domains(name):
    return ["aloha.test", "%s.aloha.test" % name]


@pytest.mark.parametrize("name", ALOHA)
def test_section_holds_the_how_to_system_values(name):
    text = host(name).file("/etc/aloha/settings.py").content_string
    lines, _ = section(text)
    assert [ln for ln in lines if ln.strip() and not ln.startswith("#")] == EXPECTED_SETTINGS
    secrets = host(name).file("/etc/aloha/aloha-secrets.conf").content_string
    assert "email_password" not in secrets


@pytest.mark.parametrize("name", ALOHA)
def test_packages_and_services(name):
    h = host(name)
    for pkg in ("postfix", "opendkim", "opendkim-tools", "libsasl2-modules"):
        assert h.package(pkg).is_installed
    for svc in ("postfix", "opendkim"):
        assert h.service(svc).is_running
        assert h.service(svc).is_enabled


@pytest.mark.parametrize("name", ALOHA)
def test_smtp_server_got_both_emails_through_postfix_signed(name):
    admin, noreply = signed_test_emails(name)
    for m, domain in ((admin, "aloha.test"), (noreply, "%s.aloha.test" % name)):
        # Through postfix as smarthost client: STARTTLS and AUTH on 587.
        assert (m["port"], m["tls"], m["auth_user"]) == (587, True, "aloha@aloha.test")
        tags = dkim_tags(m["raw"])
        assert (tags["d"], tags["s"], tags["a"]) == (domain, "aloha", "rsa-sha256")


@pytest.mark.parametrize("name", ALOHA)
def test_dkim_signature_fails_against_another_key(name):
    """The verification is real: the noreply email, signed for the host's
    own domain, fails against another key's record under its name (the
    other host's own domain's; aloha.test's key is shared by design)."""
    other = next(n for n in ALOHA if n != name)
    (noreply,) = [m for m in messages_for(messages(), name) if dkim_tags(m["raw"])["d"] == "%s.aloha.test" % name]
    selector = dkim_tags(noreply["raw"])["s"]
    own = "%s._domainkey.%s.aloha.test" % (selector, name)
    theirs = dns_txt_records(dns_records_path(other))["%s._domainkey.%s.aloha.test" % (selector, other)]
    assert dkim_verifies(noreply["raw"], {own: dns_txt_records(dns_records_path(name))[own]})
    assert not dkim_verifies(noreply["raw"], {own: theirs})


@pytest.mark.parametrize("name", ALOHA)
def test_dns_record_file_has_dkim_spf_and_dmarc(name):
    text = dns_records_path(name).read_text()
    records = dns_txt_records(dns_records_path(name))
    for d in domains(name):
        assert records["aloha._domainkey.%s" % d].startswith("v=DKIM1; h=sha256; k=rsa; s=email; p=MIIB")
        assert re.search(r'; %s\. 3600 IN TXT "v=spf1 ' % re.escape(d), text)
        assert re.search(r'; _dmarc\.%s\. 3600 IN TXT "v=DMARC1; p=none' % re.escape(d), text)


@pytest.mark.parametrize("name", ALOHA)
def test_postfix_listens_on_loopback_only(name):
    # Every listening TCP socket on the host, not only port 25 (ss cannot
    # name the process in these containers; postfix is the only listener
    # besides the sshd the tests reach the host through, on port 22).
    out = host(name).check_output("ss -Hltn")
    sockets = [ln.split()[3] for ln in out.splitlines() if not ln.split()[3].endswith(":22")]
    assert any(addr.endswith(":25") for addr in sockets), out
    for addr in sockets:
        assert addr.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), out


@pytest.mark.parametrize("name", ALOHA)
def test_port_25_refuses_other_containers(name):
    probe = smtp_host().run(
        "python3 -c 'import socket; socket.create_connection((\"%s\", 25), timeout=5)'" % address(host(name)))
    assert probe.rc != 0
    assert "ConnectionRefusedError" in probe.stderr, probe.stderr


SMTP_DIALOG = r'''
import smtplib
s = smtplib.SMTP("localhost", 25, timeout=15)
s.ehlo("localhost")
for sender, rcpt in ((%r, "someone@example.org"), ("support@aloha.test", "someone@example.org")):
    code, _ = s.mail(sender)
    if code == 250:
        code, _ = s.rcpt(rcpt)
    print(sender, code)
    s.rset()
s.quit()
'''


@pytest.mark.parametrize("name", ALOHA)
def test_relaying_rules_on_localhost(name):
    """From the host itself: a foreign sender domain is refused (nothing
    unsigned leaves), Aloha's own sender may send anywhere (no mail sent:
    the session ends after RCPT)."""
    out = host(name).check_output("python3 -c %s" % _quote(SMTP_DIALOG % "spam@example.org"))
    results = dict(ln.split() for ln in out.splitlines())
    assert results["spam@example.org"].startswith("5"), out
    assert results["support@aloha.test"] == "250", out


def _quote(script):
    return "'" + script.replace("'", "'\"'\"'") + "'"


@pytest.mark.parametrize("name", ALOHA)
def test_key_and_secret_files_owners_and_modes(name):
    h = host(name)
    for d in domains(name):
        key = h.file("/etc/opendkim/keys/%s/aloha.private" % d)
        assert (key.user, key.group, key.mode) == ("opendkim", "opendkim", 0o600)
        assert h.file("/etc/opendkim/keys/%s" % d).mode == 0o700
    for path in ("/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"):
        f = h.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
    assert PASSWORD not in h.file("/etc/postfix/main.cf").content_string
    # No backup copies of secrets anywhere in the config directories.
    listing = h.check_output("ls -a /etc/postfix /etc/opendkim /etc/opendkim/keys/*")
    assert not re.search(r"~|\.bak|\d{4}-\d{2}-\d{2}@", listing), listing
    sock = h.file("/var/spool/postfix/opendkim/opendkim.sock")
    assert sock.is_socket and sock.group == "postfix"


@pytest.mark.parametrize("name", ALOHA)
def test_postfix_main_cf_essentials(name):
    conf = postconf(name)
    for line in ("inet_interfaces = loopback-only", "relayhost = [smtp.aloha.test]:587",
                 "smtp_tls_security_level = secure", "smtp_sasl_auth_enable = yes",
                 "milter_default_action = tempfail", "smtpd_milters = unix:opendkim/opendkim.sock",
                 "myhostname = %s.aloha.test" % name):
        assert line in conf, conf
