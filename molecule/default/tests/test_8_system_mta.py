"""System mode, the how-to's "Using system email": the host already runs an
MTA (here Debian's postfix, which this test sets up to relay to the SMTP
test server on port 25, as an operator's host forwards to corporate mail).
The role points Aloha at localhost:25, checks and uses the MTA, and never
configures, stops or removes it, also when the host goes back to a
provider."""

import pytest

from alohatest import (clear_messages, file_digests, host, host_names, messages_for, messages, run_role, section,
                       wait_for_emails)

TARGET = host_names("aloha")[0]
MTA_FILES = "/etc/postfix/main.cf /etc/postfix/master.cf /etc/mailname"


@pytest.fixture(scope="module")
def system_mta():
    h = host(TARGET)
    h.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >/dev/null")
    h.check_output("echo %s.aloha.test > /etc/mailname && postconf -e 'relayhost = [smtp.aloha.test]:25' "
                   "'inet_interfaces = loopback-only' 'mydestination = localhost' "
                   "'myhostname = %s.aloha.test' 'smtp_tls_security_level = may' "
                   # /etc/hosts names the SMTP server; there is no DNS.
                   "'smtp_host_lookup = native' 'inet_protocols = ipv4' && "
                   "systemctl enable postfix >/dev/null 2>&1; systemctl restart postfix" % (TARGET, TARGET))
    before = file_digests(TARGET)
    mta = h.check_output("sha256sum %s" % MTA_FILES)
    try:
        yield h, before, mta
    finally:
        run_role(TARGET, {})
        h.run("systemctl disable --now postfix")


def test_system_mode_sends_through_the_hosts_mta_and_leaves_it_alone(system_mta):
    h, before, mta = system_mta
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_mode": "system"})
    assert proc.returncode == 0, proc.stdout
    assert "Check that the SMTP server takes Aloha's login and senders" in proc.stdout
    lines, _ = section(h.file("/etc/aloha/settings.py").content_string)
    active = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    for expected in ('EMAIL_HOST = "localhost"', 'EMAIL_HOST_USER = ""', "EMAIL_PORT = 25", "EMAIL_USE_TLS = False"):
        assert expected in active, active
    msgs = wait_for_emails(TARGET)
    assert sorted(m["headers"]["Subject"] for m in msgs) == ["Aloha email test", "Aloha noreply email test"]
    for m in msgs:
        # Relayed by the host's postfix to port 25 of the SMTP server.
        assert m["port"] == 25 and "(Postfix)" in m["raw"], m
    assert h.check_output("sha256sum %s" % MTA_FILES) == mta
    assert h.service("postfix").is_running
    # A second run changes nothing.
    proc = run_role(TARGET, {"aloha_email_mode": "system"})
    assert proc.returncode == 0, proc.stdout
    assert "changed=0" in proc.stdout.split("PLAY RECAP")[1]


def test_back_to_a_provider_keeps_the_mta_running(system_mta):
    h, before, mta = system_mta
    clear_messages()
    proc = run_role(TARGET, {})
    assert proc.returncode == 0, proc.stdout
    assert len(messages_for(messages(), TARGET)) == 2
    assert h.check_output("sha256sum %s" % MTA_FILES) == mta
    assert h.service("postfix").is_running and h.service("postfix").is_enabled
