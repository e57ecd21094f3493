"""Local-mode options, each on one host: the smarthost on 465 (TLS from the
first byte), a CA file the operator gives (the system store no longer
trusts the test CA; a wrong CA fails the verification, since postfix
cannot pass the mail on), a DKIM key given from Vault, and a main.cf that fails
postfix's own checks is never installed. Leaves the target
on a Vault-given key."""

import subprocess

from alohatest import (ROOT, active_selector, clear_messages, dkim_tags, dns_records_path, dns_txt_records,
                       file_checksums, host, host_names, postconf, run_role, signed_test_emails)

ALOHA = host_names("aloha")
TARGET = ALOHA[0]
CONVERGE = "molecule/local_postfix/converge.yml"
TEST_CA = ROOT / ".cache/test-ca/ca.crt"
BAD_CA = ROOT / ".cache/test-ca/bad.crt"
SYSTEM_CA = "/usr/local/share/ca-certificates/aloha-test-ca.crt"


def converge_and_collect(extra):
    """Run the role on TARGET with EXTRA; the two test emails it sent, after
    checking their DKIM signatures against the records the role wrote."""
    clear_messages()
    proc = run_role(TARGET, extra, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    return proc, signed_test_emails(TARGET)


def test_smarthost_on_465_with_tls_wrapper_mode():
    _, msgs = converge_and_collect({"aloha_email_local_relay_port": 465})
    conf = postconf(TARGET)
    assert "relayhost = [smtp.aloha.test]:465" in conf
    assert "smtp_tls_wrappermode = yes" in conf
    for m in msgs:
        assert (m["port"], m["tls"], m["auth_user"]) == (465, True, "aloha@aloha.test")


def test_ca_file_given_verifies_the_smarthost():
    h = host(TARGET)
    # Without the test CA in the system store, nothing on the host trusts
    # the SMTP server's certificate; only the given CA file can.
    h.check_output("mv %s /root/ && update-ca-certificates --fresh >/dev/null" % SYSTEM_CA)
    try:
        probe = h.run("python3 -c 'import smtplib, ssl; smtplib.SMTP_SSL(\"smtp.aloha.test\", 465, timeout=10, "
                      "context=ssl.create_default_context())'")
        assert probe.rc != 0 and "CERTIFICATE_VERIFY_FAILED" in probe.stderr, probe.stderr
        # A CA that did not issue the smarthost's certificate: the smarthost
        # preflight refuses it before any change, naming the variable.
        before = host(TARGET).check_output("sha256sum /etc/postfix/main.cf /etc/aloha/settings.py")
        proc = run_role(TARGET, {"aloha_email_local_relay_ca_file": str(BAD_CA)}, playbook=CONVERGE)
        assert proc.returncode != 0
        assert "SMTP preflight failed (certificate_untrusted)" in proc.stdout, proc.stdout
        assert "aloha_email_local_relay_ca_file" in proc.stdout and "Nothing was changed." in proc.stdout
        assert host(TARGET).check_output("sha256sum /etc/postfix/main.cf /etc/aloha/settings.py") == before
        # Without the preflight, postfix keeps the test emails, and the run
        # fails saying why and what to set, and rolls back.
        proc = run_role(TARGET, {"aloha_email_local_relay_ca_file": str(BAD_CA), "aloha_email_local_relay_wait": 20,
                                 "aloha_email_preflight": False}, playbook=CONVERGE)
        assert proc.returncode != 0
        assert "relay_certificate_untrusted" in proc.stdout and "aloha_email_local_relay_ca_file" in proc.stdout
        assert "still in its queue" in proc.stdout, proc.stdout
        h.check_output("postsuper -d ALL")
        _, msgs = converge_and_collect({"aloha_email_local_relay_ca_file": str(TEST_CA)})
        assert "smtp_tls_CAfile = /etc/postfix/aloha-relay-ca.pem" in postconf(TARGET)
        ca = h.file("/etc/postfix/aloha-relay-ca.pem")
        assert (ca.user, ca.mode) == ("root", 0o644)
        assert ca.content_string == TEST_CA.read_text()
        for m in msgs:
            assert (m["port"], m["tls"], m["auth_user"]) == (587, True, "aloha@aloha.test")
    finally:
        h.check_output("mv /root/aloha-test-ca.crt %s && update-ca-certificates --fresh >/dev/null" % SYSTEM_CA)


def public_key_b64(private_pem):
    out = subprocess.run(["openssl", "pkey", "-pubout"], input=private_pem, capture_output=True, text=True,
                         check=True).stdout
    return "".join(ln for ln in out.splitlines() if not ln.startswith("-----"))


def test_dkim_key_given_from_vault_replaces_the_generated_one():
    """On the host's own domain: the scenario's Vault already gives every
    host the key of the domain they share (aloha.test)."""
    h = host(TARGET)
    selector = active_selector(TARGET)
    domain = "%s.aloha.test" % TARGET
    path = "/etc/opendkim/keys/%s/%s.private" % (domain, selector)
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         capture_output=True, text=True, check=True).stdout
    keys = [{"domain": domain, "selector": selector, "private_key": pem}]
    proc, msgs = converge_and_collect({"aloha_email_local_dkim_keys": keys})
    body = pem.splitlines()[1]
    assert body not in proc.stdout
    key = h.file(path)
    assert (key.user, key.group, key.mode) == ("opendkim", "opendkim", 0o600)
    assert key.content_string.strip() == pem.strip()
    record = dns_txt_records(dns_records_path(TARGET))["%s._domainkey.%s" % (selector, domain)]
    assert record.endswith("p=" + public_key_b64(pem))
    noreply = msgs[1]
    assert (dkim_tags(noreply["raw"])["d"], dkim_tags(noreply["raw"])["s"]) == (domain, selector)
    # A later run without the variable keeps the given key.
    proc = run_role(TARGET, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    assert h.file(path).content_string.strip() == pem.strip()


def test_main_cf_that_fails_postfix_check_is_never_installed():
    files = ("/etc/postfix/main.cf", "/etc/aloha/settings.py")
    before = file_checksums(TARGET, files)
    # myorigin names a parameter postfix does not know: postconf warns.
    proc = run_role(TARGET, {"aloha_email_local_myorigin": "$no_such_parameter"}, playbook=CONVERGE)
    assert proc.returncode != 0
    assert "main.cf" in proc.stdout and "no_such_parameter" in proc.stdout, proc.stdout
    assert file_checksums(TARGET, files) == before
    assert host(TARGET).service("postfix").is_running
