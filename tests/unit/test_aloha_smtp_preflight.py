"""The aloha_smtp_preflight module run for real through Ansible against the
scripted local SMTP server: success over STARTTLS and over TLS, and each
troubleshooting cause, with the same cause and fix as the verification
reports; never DATA, never the password."""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess

import pytest

import aloha_smtp_preflight

USER = "mailer@aloha.test"
PASSWORD = "Pa55;w%rd#\"x'\\{{ y }}"
RECIPIENT = "ops@aloha.test"
ADMIN = "admin@aloha.test"
NOREPLY = "noreply@aloha.test"
TOKENIZED = "noreply-{token}@aloha.test"
TOKENIZED_RE = r"noreply-[a-z2-7]{24}@aloha\.test"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def leaked_forms(password=PASSWORD, user=USER):
    forms = [password, b64(password), b64("\0%s\0%s" % (user, password)),
             b64(password).rstrip("=")]
    # As JSON output escapes it (the password has a quote and a backslash).
    return forms + [json.dumps(form)[1:-1] for form in forms]


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CA and a server certificate it signs for 127.0.0.1 and
    smtp.aloha.test (extensions strict enough for Python 3.13).
    Returns (server_context, ca_path)."""
    d = tmp_path_factory.mktemp("ca")

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    (d / "ca.ext").write_text(
        "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
    (d / "server.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:smtp.aloha.test, IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
    for name, cn in (("ca", "Preflight Test CA"), ("server", "smtp.aloha.test")):
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", name + ".key")
        openssl("req", "-new", "-key", name + ".key", "-out", name + ".csr",
                "-subj", "/O=Aloha test/CN=" + cn)
    openssl("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-out", "ca.crt",
            "-days", "2", "-extfile", "ca.ext")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(d / "server.crt"), str(d / "server.key"))
    return context, str(d / "ca.crt")


@pytest.fixture
def trust(monkeypatch, test_ca):
    """Make the module's system CA store the test CA (OpenSSL reads
    SSL_CERT_FILE; the local connection passes the environment on)."""
    monkeypatch.setenv("SSL_CERT_FILE", test_ca[1])
    return test_ca[0]


def args(port, **extra):
    result = dict(host="127.0.0.1", port=port, use_tls=False, use_ssl=False,
                  user=USER, password="{{ pw }}", senders=[ADMIN, NOREPLY, TOKENIZED],
                  recipient=RECIPIENT, timeout=15)
    result.update(extra)
    return result


def preflight(run_module, port, password=PASSWORD, **extra):
    return run_module("aloha_smtp_preflight", args(port, **extra), secrets={"pw": password})


def assert_no_mail(behaviour):
    assert "DATA" not in behaviour.commands
    assert behaviour.messages == []


def assert_failed(proc, result, cause, *needles):
    assert proc.returncode != 0
    assert result["failed"] is True and result["changed"] is False
    assert result["cause"] == cause
    assert result["msg"].startswith("SMTP preflight failed (%s): " % cause)
    assert ". Fix: " + result["fix"] in result["msg"]
    for needle in needles:
        assert needle in result["msg"], (needle, result["msg"])
    for form in leaked_forms():
        assert form not in proc.stdout


# --- helpers ------------------------------------------------------------------

def test_tokens_are_filled_like_aloha():
    senders = aloha_smtp_preflight.effective_senders(
        [ADMIN, "", NOREPLY, TOKENIZED, ADMIN, " "])
    assert senders[:2] == [ADMIN, NOREPLY] and len(senders) == 3
    assert re.fullmatch(TOKENIZED_RE, senders[2])


# --- success ------------------------------------------------------------------

@pytest.mark.ansible_cli
def test_success_over_starttls(run_module, smtp_server, trust, target_python):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, starttls_context=trust)
    proc, result = run_module("aloha_smtp_preflight", args(port, use_tls=True),
                              secrets={"pw": PASSWORD}, python=target_python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is False
    assert result["senders"][:2] == [ADMIN, NOREPLY]
    assert re.fullmatch(TOKENIZED_RE, result["senders"][2])
    assert result["msg"] == ("SMTP preflight passed: 127.0.0.1:%d (STARTTLS) accepted "
                             "3 senders for %s" % (port, RECIPIENT))
    assert behaviour.logins == [(USER, PASSWORD)]
    # What Django does, then MAIL/RCPT/RSET per sender, QUIT, and no DATA.
    assert behaviour.commands == (["EHLO", "STARTTLS", "EHLO", "AUTH"]
                                  + ["MAIL", "RCPT", "RSET"] * 3 + ["QUIT"])
    assert_no_mail(behaviour)
    assert any("AUTH PLAIN ********" in line for line in result["transcript"])
    for form in leaked_forms():
        assert form not in proc.stdout


def test_success_over_ssl_and_in_check_mode(run_module, smtp_server, trust):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, tls_context=trust)
    proc, result = run_module("aloha_smtp_preflight",
                              args(port, use_ssl=True, senders=[ADMIN, NOREPLY]),
                              secrets={"pw": PASSWORD}, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is False and result["senders"] == [ADMIN, NOREPLY]
    assert "(SSL) accepted 2 senders" in result["msg"]
    assert behaviour.commands.count("MAIL") == 2
    assert_no_mail(behaviour)


def test_no_login_without_user(run_module, smtp_server):
    # A relay that needs no login (how-to's "system email" values).
    port, behaviour = smtp_server(require_auth=False)
    proc, result = preflight(run_module, port, user="", password="")
    assert proc.returncode == 0, proc.stdout
    assert "AUTH" not in behaviour.commands and behaviour.logins == []
    assert "(plain) accepted 3 senders" in result["msg"]
    assert_no_mail(behaviour)


# --- the troubleshooting causes -----------------------------------------------

def test_port_blocked(run_module, blocked_port):
    proc, result = preflight(run_module, blocked_port, timeout=1)
    assert_failed(proc, result, "port_blocked", "TimeoutError: timed out",
                  "hosting provider may block outgoing SMTP on port %d" % blocked_port,
                  "aloha_email_port")


def test_connection_refused(run_module, closed_port):
    proc, result = preflight(run_module, closed_port)
    assert_failed(proc, result, "connection_refused",
                  "ConnectionRefusedError: [Errno 111] Connection refused",
                  "aloha_email_host", "aloha_email_port", "port %d" % closed_port)


def test_starttls_spoken_to_ssl_port(run_module, smtp_server):
    # A 465-style port waits for a ClientHello and never greets.
    port, _ = smtp_server(mode="silent")
    proc, result = preflight(run_module, port, use_tls=True, timeout=1)
    assert_failed(proc, result, "starttls_on_ssl_port",
                  "(starttls_on_ssl_port): Connection unexpectedly closed: timed out. Fix: ",
                  "aloha_email_port: 465", "aloha_email_use_ssl: true",
                  "aloha_email_use_tls: false")


def test_ssl_spoken_to_starttls_port(run_module, smtp_server, trust):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, starttls_context=trust)
    proc, result = preflight(run_module, port, use_ssl=True)
    assert_failed(proc, result, "ssl_on_starttls_port", "WRONG_VERSION_NUMBER",
                  "aloha_email_use_ssl: false", "aloha_email_use_tls: true")
    assert "MAIL" not in behaviour.commands and behaviour.logins == []


@pytest.mark.parametrize("mode", ["use_tls", "use_ssl"])
def test_certificate_untrusted(run_module, smtp_server, test_ca, mode):
    # Same server and CA as the success tests, but the CA is not in the
    # host's store.
    context = test_ca[0]
    kwargs = dict(starttls_context=context) if mode == "use_tls" else dict(tls_context=context)
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, **kwargs)
    proc, result = preflight(run_module, port, **{mode: True})
    assert_failed(proc, result, "certificate_untrusted", "CERTIFICATE_VERIFY_FAILED",
                  "aloha_email_host", "CA", "update-ca-certificates")
    assert behaviour.logins == []


@pytest.mark.parametrize("mode", ["use_tls", "use_ssl"])
def test_ca_pem_verifies_a_server_the_system_store_does_not_trust(run_module, smtp_server, test_ca, mode):
    """A local-mode smarthost's own CA (aloha_email_local_relay_ca_file):
    trusted through ca_pem alone, not added to the host's store."""
    context, ca_path = test_ca
    kwargs = dict(starttls_context=context) if mode == "use_tls" else dict(tls_context=context)
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, **kwargs)
    with open(ca_path) as handle:
        proc, result = preflight(run_module, port, ca_pem=handle.read(), **{mode: True})
    assert proc.returncode == 0, result
    assert result["msg"].startswith("SMTP preflight passed")
    assert [login[0] for login in behaviour.logins] == [USER]
    assert_no_mail(behaviour)


def test_variable_names_word_the_fix_for_the_server_checked(run_module, smtp_server, test_ca):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, tls_context=test_ca[0])
    proc, result = preflight(run_module, port, use_ssl=True, variable_names={
        "aloha_email_host": "aloha_email_local_relay_host",
        "install the issuing CA on the Aloha host": "give the issuing CA as aloha_email_local_relay_ca_file"})
    assert result["cause"] == "certificate_untrusted"
    assert "aloha_email_local_relay_host" in result["fix"] and "aloha_email_local_relay_ca_file" in result["fix"]
    assert "aloha_email_host " not in result["fix"] and "aloha_email_local_relay_ca_file" in result["msg"]


@pytest.mark.parametrize("mechanisms", [("PLAIN", "LOGIN"), ("LOGIN",)])
def test_authentication_refused(run_module, smtp_server, mechanisms):
    port, behaviour = smtp_server(accounts={USER: "the-right-one"}, mechanisms=mechanisms)
    proc, result = preflight(run_module, port)
    assert_failed(proc, result, "auth_refused",
                  "(auth_refused): (535, b'5.7.8 Authentication credentials invalid'). Fix: ",
                  "aloha_email_host_user", "aloha_email_password", "email_password")
    assert "MAIL" not in behaviour.commands
    assert any("AUTH %s ********" % mechanisms[0] in line for line in result["transcript"])


def test_login_required_but_not_given(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: PASSWORD})
    proc, result = preflight(run_module, port, user="", password="")
    assert_failed(proc, result, "auth_refused", "530", "aloha_email_host_user",
                  "aloha_email_password")


def test_tokenized_sender_refused(run_module, smtp_server):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, refuse_sender=r"noreply-.*")
    proc, result = preflight(run_module, port)
    assert_failed(proc, result, "sender_refused",
                  "(sender_refused): (550, b'5.7.1 Sender address not allowed: noreply-",
                  "aloha_email_add_tokens_to_noreply_address: false",
                  "ADD_TOKENS_TO_NOREPLY_ADDRESS = False in /etc/aloha/settings.py",
                  "helpdesk", "certain domain")
    assert re.search(r"refused the tokenized sender " + TOKENIZED_RE, result["msg"])
    # Admin and noreply@ were accepted first; the session ended with QUIT.
    assert behaviour.commands[-3:] == ["RSET", "MAIL", "QUIT"]
    assert_no_mail(behaviour)


def test_fixed_sender_refused(run_module, smtp_server):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, refuse_sender=r"noreply@.*")
    proc, result = preflight(run_module, port)
    assert_failed(proc, result, "sender_refused", "refused the sender " + NOREPLY,
                  "aloha_email_noreply_address")
    assert "aloha_email_add_tokens_to_noreply_address" not in result["msg"]
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS" not in result["msg"]
    assert_no_mail(behaviour)


def test_recipient_refused(run_module, smtp_server):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, refuse_recipient=r"ops@.*")
    proc, result = preflight(run_module, port)
    assert_failed(proc, result, "recipient_refused", RECIPIENT, "aloha_email_test_recipient")
    assert behaviour.commands[-3:] == ["MAIL", "RCPT", "QUIT"]
    assert_no_mail(behaviour)


def test_starttls_not_offered(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: PASSWORD})
    proc, result = preflight(run_module, port, use_tls=True)
    assert_failed(proc, result, "starttls_not_offered",
                  "STARTTLS extension not supported by server", "aloha_email_port: 587")


@pytest.mark.ansible_cli
def test_output_clean_at_vvv(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: "other"}, mechanisms=("LOGIN",))
    proc, _ = run_module("aloha_smtp_preflight", args(port), secrets={"pw": PASSWORD},
                         verbosity=3, json_output=False)
    output = proc.stdout + proc.stderr
    assert "FAILED" in output and "auth_refused" in output
    assert "AUTH LOGIN ********" in output
    for form in leaked_forms():
        assert form not in output


def test_missing_recipient_and_tls_with_ssl(run_module):
    proc, result = preflight(run_module, 1, recipient="")
    assert proc.returncode != 0 and "aloha_email_test_recipient" in result["msg"]
    proc, result = preflight(run_module, 1, use_tls=True, use_ssl=True)
    assert result["cause"] == "tls_and_ssl"


def test_server_echoing_the_auth_blob_leaks_nothing(run_module, smtp_server):
    # A 535 that quotes the AUTH PLAIN argument: base64("\0user\0password").
    port, _ = smtp_server(accounts={USER: "the-right-one"}, echo_auth=True, mechanisms=("PLAIN",))
    proc, result = preflight(run_module, port)
    assert result["cause"] == "auth_refused"
    assert b64("\0%s\0%s" % (USER, PASSWORD)) not in proc.stdout + proc.stderr
    assert "Authentication credentials invalid: ********" in result["msg"]


@pytest.mark.parametrize("password", ["", None])
def test_a_user_without_a_password_logs_in_as_nobody(run_module, smtp_server, password):
    # Like Django: AUTH only when both the user and the password are set
    # (None: the option left out, its default).
    port, behaviour = smtp_server(require_auth=False)
    module_args = args(port, password=password)
    if password is None:
        del module_args["password"]
    proc, result = run_module("aloha_smtp_preflight", module_args)
    assert proc.returncode == 0, result
    assert "AUTH" not in behaviour.commands and behaviour.logins == []
    assert_no_mail(behaviour)


def test_a_recipient_the_server_will_forward_is_accepted(run_module, smtp_server):
    # 251: user not local, will forward (RFC 5321): the recipient is accepted.
    port, behaviour = smtp_server(accounts={USER: PASSWORD},
                                  rcpt_reply="251 2.1.5 User not local; will forward")
    proc, result = preflight(run_module, port)
    assert proc.returncode == 0, result
    assert result["msg"].startswith("SMTP preflight passed")


def test_login_user_is_an_alias_of_user(run_module, smtp_server):
    # The name the other modules use for the SMTP login.
    port, behaviour = smtp_server(accounts={USER: PASSWORD})
    module_args = args(port, login_user=USER)
    del module_args["user"]
    proc, result = run_module("aloha_smtp_preflight", module_args, secrets={"pw": PASSWORD})
    assert proc.returncode == 0, result
    assert behaviour.logins == [(USER, PASSWORD)]


# --- what the module answers before and after the SMTP session ----------------

def test_no_sender_left_is_refused_before_connecting(run_module):
    # Port 1: nothing listens; the check must stop before connecting.
    proc, result = preflight(run_module, 1, senders=["", " "])
    assert result["failed"] is True
    assert result["msg"] == "SMTP preflight: no sender to check (senders is empty)"
    assert result["senders"] == [] and result["transcript"] == []


def test_no_recipient_names_the_variables(run_module):
    proc, result = preflight(run_module, 1, recipient=" ")
    assert result["msg"] == ("SMTP preflight: no recipient: set aloha_email_test_recipient "
                             "(or aloha_ADMINISTRATOR in settings.py)")
    assert result["recipient"] == "" and result["transcript"] == []


def test_tls_and_ssl_together_is_refused_with_the_fix(run_module):
    proc, result = preflight(run_module, 1, use_tls=True, use_ssl=True)
    assert result["cause"] == "tls_and_ssl"
    assert result["fix"].startswith("aloha_email_use_tls and aloha_email_use_ssl are both true")
    assert result["msg"] == ("SMTP preflight failed (tls_and_ssl): EMAIL_USE_TLS and EMAIL_USE_SSL are "
                             "both true. Fix: %s" % result["fix"])


def test_one_sender_accepted_is_said_in_the_singular(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: PASSWORD})
    proc, result = preflight(run_module, port, senders=[ADMIN])
    assert result["msg"] == "SMTP preflight passed: 127.0.0.1:%d (plain) accepted 1 sender for %s" % (
        port, RECIPIENT)
    assert result["senders"] == [ADMIN] and result["recipient"] == RECIPIENT
    assert "send: 'mail FROM:<%s>\\r\\n'" % ADMIN in result["transcript"]


def test_a_failure_keeps_the_senders_recipient_and_transcript(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: PASSWORD}, refuse_recipient=r"ops@.*")
    proc, result = preflight(run_module, port, senders=[ADMIN])
    assert result["cause"] == "recipient_refused"
    assert result["senders"] == [ADMIN] and result["recipient"] == RECIPIENT
    assert "send: 'rcpt TO:<%s>\\r\\n'" % RECIPIENT in result["transcript"]
    # The error without Aloha's "Failed to send mails: " (no mail is sent).
    assert result["msg"].startswith("SMTP preflight failed (recipient_refused): {'%s': (550, " % RECIPIENT)


def test_a_password_without_a_user_logs_in_as_nobody(run_module, smtp_server):
    # No aloha_email_host_user, a password left in the vault: Django does
    # not log in, nor does the check.
    port, behaviour = smtp_server(require_auth=False)
    proc, result = preflight(run_module, port, user="")
    assert proc.returncode == 0, result
    assert "AUTH" not in behaviour.commands and behaviour.logins == []
