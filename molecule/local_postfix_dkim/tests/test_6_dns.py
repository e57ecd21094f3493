"""Local mode against a real DNS server (the aloha_test_dns fixture on the
SMTP test host): the DNS check tells unpublished, matching and mismatched
DKIM records apart, and without a smarthost postfix looks up the
recipient domain's MX and delivers there directly, signed. Also a
smarthost that needs no login."""

import json
import re

from alohatest import (active_selector, address, clear_messages, dns_from_fixture, dns_records_path, host, host_names,
                       postconf, run_role, signed_test_emails, smtp_host, write_file)

ALOHA = host_names("aloha")
TARGET = ALOHA[0]
OTHER = ALOHA[1]
CONVERGE = "molecule/local_postfix/converge.yml"
PUBLISHED = "/etc/aloha-test-dns/published.zone"
# No smarthost, and no login (the scenario's group_vars set one).
DIRECT = {"aloha_email_local_relay_host": "", "aloha_email_local_relay_user": "",
          "aloha_email_local_relay_password": ""}


def dns_check(name):
    """Run the role on NAME with the DNS check asking the fixture; the
    check's line for each of NAME's domains, by domain."""
    proc = run_role(name, {"aloha_email_local_dns_check": True,
                          "aloha_email_local_dns_check_nameservers": [address(smtp_host())]}, playbook=CONVERGE,
                    env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    assert proc.returncode == 0, proc.stdout
    run, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    # A DNS check never changes the host.
    assert run["stats"][name]["changed"] == 0, run["stats"]
    results = [r for play in run["plays"] for task in play["tasks"]
               if task["task"]["name"].endswith("Compare the published DKIM records with the keys.")
               for r in task["hosts"][name]["results"]]
    selector = active_selector(name)
    lines = dict(r["msg"].split(": ", 1) for r in results)
    return {domain: lines["%s._domainkey.%s." % (selector, domain)] for domain in ("aloha.test", "%s.aloha.test" % name)}


def mismatched_records(name, other):
    """NAME's records file with aloha.test's records carrying OTHER's key
    for OTHER's own domain, and without NAME's own domain."""
    record = r'^(\S+\._domainkey\.%s\. 3600 IN TXT )("[^"]*"(?: "[^"]*")*)'
    theirs = re.search(record % re.escape("%s.aloha.test" % other), dns_records_path(other).read_text(), re.M)
    assert theirs, dns_records_path(other).read_text()
    mine = dns_records_path(name).read_text()
    wrong, count = re.subn(record % re.escape("aloha.test"), lambda m: m.group(1) + theirs.group(2), mine, flags=re.M)
    assert count >= 1, mine
    assert wrong != mine
    return re.sub(record % re.escape("%s.aloha.test" % name) + ".*$", "", wrong, flags=re.M)


def test_dns_check_tells_unpublished_matching_and_mismatched_records_apart():
    smtp = smtp_host()
    try:
        smtp.check_output("rm -f %s" % PUBLISHED)
        assert set(dns_check(TARGET).values()) == {"not published yet (NXDOMAIN)."}
        # The records exactly as the role wrote them for the operator.
        write_file(smtp, PUBLISHED, dns_records_path(TARGET).read_text())
        assert set(dns_check(TARGET).values()) == {"published and matches the key."}
        # The shared domain's record with another key (the other host's own
        # domain's: the hosts share aloha.test's key from Vault), none for
        # the host's own domain.
        write_file(smtp, PUBLISHED, mismatched_records(TARGET, OTHER))
        status = dns_check(TARGET)
        assert status["aloha.test"] == "published but DOES NOT match the key: publish the record above."
        assert status["%s.aloha.test" % TARGET] == "not published yet (NXDOMAIN)."
    finally:
        smtp.check_output("rm -f %s" % PUBLISHED)


def test_smarthost_without_login():
    """A relay that knows its clients by address (port 25, no AUTH): no
    SASL files or settings, TLS still required and the certificate checked."""
    clear_messages()
    proc = run_role(TARGET, dict(DIRECT, aloha_email_local_relay_host="smtp.aloha.test",
                                 aloha_email_local_relay_port=25), playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    conf = postconf(TARGET)
    assert "relayhost = [smtp.aloha.test]:25" in conf and "smtp_tls_security_level = secure" in conf
    assert not [ln for ln in conf if ln.startswith("smtp_sasl_")], conf
    assert not host(TARGET).file("/etc/postfix/sasl_passwd").exists
    for m in signed_test_emails(TARGET):
        assert (m["port"], m["tls"], m["auth_user"]) == (25, True, None)


def test_without_smarthost_postfix_delivers_to_the_mx_directly():
    smtp = smtp_host()
    with dns_from_fixture(TARGET) as h:
        smtp.check_output("truncate -s 0 /var/log/aloha-test-dns.log")
        clear_messages()
        proc = run_role(TARGET, DIRECT, playbook=CONVERGE)
        assert proc.returncode == 0, proc.stdout
        conf = postconf(TARGET)
        assert "relayhost =" in conf and "smtp_tls_security_level = may" in conf
        assert not h.file("/etc/postfix/sasl_passwd").exists
        assert not h.file("/etc/postfix/sasl_passwd.db").exists
        # postfix asked DNS for the MX of the recipients' domain and its address.
        log = smtp.check_output("cat /var/log/aloha-test-dns.log")
        assert "example.net. MX -> NOERROR, 1 answer(s)" in log, log
        assert "mx.example.net. A -> NOERROR, 1 answer(s)" in log, log
        for m in signed_test_emails(TARGET):
            # The MX's port 25, no login.
            assert (m["port"], m["auth_user"]) == (25, None)
    clear_messages()
    proc = run_role(TARGET, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for m in signed_test_emails(TARGET):
        assert (m["port"], m["tls"], m["auth_user"]) == (587, True, "aloha@aloha.test")
