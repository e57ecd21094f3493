"""The preflight against the real SMTP server: each troubleshooting cause
comes from a real server behaviour (nothing listening, a filtered port,
STARTTLS spoken to the TLS port, TLS spoken to the STARTTLS port, an
untrusted certificate, a wrong password, a refused sender), stops the run
before any change with the cause and the fix naming the variable, and
never shows the password. A passing preflight sends no mail; it runs in
check mode; aloha_email_preflight: false skips it. The preflight runs only
when a change is pending (test_5_transaction); where a case changes nothing
on the host (a server-side change), it runs as the standing check,
aloha_email_preflight: always."""

import base64
import json
import os
import re
import subprocess

import pytest

from alohatest import (INVENTORY, ROOT, file_checksums, host_names, messages, password_forms, run_role, smtp_host,
                       smtp_log_since, smtp_log_size, task_output)

TARGET = host_names("aloha")[0]
CA_DIR = ROOT / ".cache/test-ca"
TASK = "Check that the SMTP server takes Aloha's login and senders (no mail is sent)."
# Ports of the SMTP test host that nobody listens on.
CLOSED_PORT = 2526
REDIRECT_PORT = 2465
WAIT_FOR_PORTS = ("python3 -c 'import socket, time\n"
                  "for _ in range(100):\n"
                  "    try:\n"
                  "        [socket.create_connection((\"127.0.0.1\", p), 1).close() for p in (587, 465)]\n"
                  "        break\n"
                  "    except OSError:\n"
                  "        time.sleep(0.1)'")


def assert_stopped_before_any_change(extra, cause, *needles, verbosity=0):
    """Run the role for real with extra: the preflight fails with cause,
    and the host's files are byte for byte what they were."""
    before = file_checksums(TARGET)
    count = len(messages())
    proc = run_role(TARGET, dict({"aloha_email_preflight": "always"}, **extra), verbosity=verbosity)
    assert proc.returncode != 0, proc.stdout
    assert TASK in proc.stdout
    # Ansible prints the message once on one line ("Module failed: ...").
    line = next((ln for ln in proc.stdout.splitlines() if "SMTP preflight failed (" in ln), "")
    assert "SMTP preflight failed (%s): " % cause in line, proc.stdout
    assert ". Fix: " in line
    for needle in needles:
        assert needle in line, (needle, line)
    assert "Write the outgoing email section of settings.py." not in proc.stdout.split(TASK)[-1]
    assert file_checksums(TARGET) == before
    assert len(messages()) == count
    return proc


def test_passing_preflight_checks_every_sender_and_sends_nothing():
    count = len(messages())
    offset = smtp_log_size()
    proc = run_role(TARGET, {"aloha_email_preflight": "always"}, check=True, verbosity=1)
    assert proc.returncode == 0, proc.stdout
    assert "SMTP preflight passed: smtp.aloha.test:587 (STARTTLS) accepted 3 senders for %s" % (
        "ops+%s@example.net" % TARGET) in " ".join(proc.stdout.split())
    log = smtp_log_since(offset)
    assert "AUTH PLAIN ok user=aloha@aloha.test" in log or "AUTH LOGIN ok user=aloha@aloha.test" in log
    accepted = re.findall(r"port=587 peer=\S+ MAIL FROM accepted (\S+)", log)
    assert accepted[:2] == ["support@aloha.test", "noreply@%s.aloha.test" % TARGET]
    assert re.fullmatch(r"noreply-[a-z2-7]{24}@%s\.aloha\.test" % re.escape(TARGET), accepted[2])
    assert "DATA accepted" not in log
    assert len(messages()) == count


def test_nothing_listening_is_connection_refused():
    assert_stopped_before_any_change({"aloha_email_port": CLOSED_PORT}, "connection_refused",
                                     "Connection refused", "port %d" % CLOSED_PORT,
                                     "aloha_email_host and aloha_email_port")


def test_filtered_port_is_port_blocked():
    assert_stopped_before_any_change({"aloha_email_port": 2587}, "port_blocked",
                                     "TimeoutError: timed out", "firewall",
                                     "outgoing SMTP on port 2587", "aloha_email_port: 587 or 465")


def test_ssl_spoken_to_the_starttls_port():
    assert_stopped_before_any_change({"aloha_email_use_ssl": True, "aloha_email_use_tls": False},
                                     "ssl_on_starttls_port", "WRONG_VERSION_NUMBER",
                                     "aloha_email_use_ssl: false and aloha_email_use_tls: true")


@pytest.fixture
def ssl_port_on_other_number():
    """The server's TLS-from-the-first-byte port 465 also reachable as 2465
    (nftables redirect on the SMTP host): the role's own check refuses
    port 465 without aloha_email_use_ssl, so only another number lets the
    preflight meet a TLS port with STARTTLS."""
    smtp = smtp_host()
    smtp.check_output(
        "nft -f - <<'EOF'\n"
        "table ip aloha_preflight_test\n"
        "delete table ip aloha_preflight_test\n"
        "table ip aloha_preflight_test {\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    tcp dport %d redirect to :465\n"
        "  }\n"
        "}\n"
        "EOF" % REDIRECT_PORT)
    yield REDIRECT_PORT
    smtp.check_output("nft delete table ip aloha_preflight_test")


def test_starttls_spoken_to_the_ssl_port(ssl_port_on_other_number):
    assert_stopped_before_any_change({"aloha_email_port": ssl_port_on_other_number}, "starttls_on_ssl_port",
                                     "Connection unexpectedly closed: timed out",
                                     "aloha_email_port: 465 with aloha_email_use_ssl: true")


@pytest.fixture
def untrusted_certificate():
    """The SMTP server restarted with a self-signed certificate for
    smtp.aloha.test that no Aloha host trusts; the real one afterwards."""
    smtp = smtp_host()

    def install(cert, key):
        for path, name in ((cert, "server.crt"), (key, "server.key")):
            data = base64.b64encode(path.read_bytes()).decode()
            smtp.check_output("echo %s | base64 -d > /etc/aloha-test-smtp/%s" % (data, name))
        smtp.check_output("systemctl restart aloha-test-smtp")
        smtp.check_output(WAIT_FOR_PORTS)

    install(CA_DIR / "bad.crt", CA_DIR / "bad.key")
    yield
    install(CA_DIR / "smtp.crt", CA_DIR / "smtp.key")


def test_untrusted_certificate(untrusted_certificate):
    assert_stopped_before_any_change({}, "certificate_untrusted", "CERTIFICATE_VERIFY_FAILED",
                                     "aloha_email_host", "update-ca-certificates")


def test_wrong_password_is_auth_refused_and_never_shown():
    wrong = "Wr0ng%pass#;word"
    proc = assert_stopped_before_any_change({"aloha_email_password": wrong}, "auth_refused",
                                            "535", "aloha_email_host_user and the vault password "
                                            "aloha_email_password", verbosity=3)
    for form in password_forms(wrong):
        assert form not in proc.stdout


def test_refused_tokenized_sender_suggests_turning_tokens_off(no_tokenized_senders):
    proc = assert_stopped_before_any_change({}, "sender_refused",
                                            "550, b'5.7.1 Sender address not allowed: noreply-",
                                            "aloha_email_add_tokens_to_noreply_address: false",
                                            "ADD_TOKENS_TO_NOREPLY_ADDRESS = False in /etc/aloha/settings.py",
                                            "helpdesk")
    assert re.search(r"refused the tokenized sender noreply-[a-z2-7]{24}@", proc.stdout)
    # The how-to's fix passes the preflight: the fixed noreply@ is allowed.
    proc = run_role(TARGET, {"aloha_email_add_tokens_to_noreply_address": False}, check=True, verbosity=1)
    assert proc.returncode == 0, proc.stdout
    assert "accepted 2 senders" in proc.stdout


def test_preflight_can_be_turned_off():
    # In check mode the preflight runs (see the first test) and would refuse
    # this password; turned off, nothing checks it before the change.
    proc = run_role(TARGET, {"aloha_email_password": "not-the-password", "aloha_email_preflight": False},
                    check=True)
    assert proc.returncode == 0, proc.stdout
    assert task_output(proc.stdout, TASK).strip() == "skipping: [%s]" % TARGET, proc.stdout
    assert "SMTP preflight" not in proc.stdout


def test_module_alone_meets_starttls_on_port_465():
    """The module, run ad hoc on the host against the real port 465 with
    STARTTLS settings (the role's own check refuses these settings)."""
    env = dict(os.environ, ANSIBLE_LIBRARY=str(ROOT / "roles/aloha_email/library"),
               ANSIBLE_MODULE_UTILS=str(ROOT / "roles/aloha_email/module_utils"),
               ANSIBLE_CONFIG=str(ROOT / "tests/ansible.cfg"), ANSIBLE_NOCOLOR="1")
    args = {"host": "smtp.aloha.test", "port": 465, "use_tls": True, "user": "aloha@aloha.test",
            "password": "whatever", "senders": ["support@aloha.test"], "recipient": "ops@example.net"}
    proc = subprocess.run(["ansible", TARGET, "-i", INVENTORY, "-m", "aloha_smtp_preflight",
                           "-a", json.dumps(args)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "SMTP preflight failed (starttls_on_ssl_port): Connection unexpectedly closed: timed out" \
        in proc.stdout, proc.stdout + proc.stderr
