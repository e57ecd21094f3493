"""Local mode across a fleet: both Aloha hosts send for aloha.test (their
aloha_ADMINISTRATOR is support@aloha.test), each also for its own
<host>.aloha.test. The scenario's Vault gives both the one aloha.test key,
so the records the role wrote for the two hosts, put together as an
operator publishes them, hold one key per DNS name, and both hosts' mail
verifies against them. Two hosts that would each make their own key for a
shared domain are refused before any change, with the fix."""

from alohatest import (clear_messages, dkim_tags, dkim_verifies, dns_records_path, dns_txt_records, file_checksums,
                       host, host_names, recipient, run_role, send_test_email, wait_for_emails)

ALOHA = host_names("aloha")
CONVERGE = "molecule/local_postfix/converge.yml"
SHARED = "aloha.test"
FILES = ("/etc/postfix/main.cf", "/etc/opendkim.conf", "/etc/opendkim/KeyTable", "/etc/opendkim/SigningTable",
         "/etc/opendkim/aloha-email-selectors.json", "/etc/aloha/settings.py", "/etc/aloha/aloha.conf")


def published_records():
    """Every host's records in one zone, as the operator publishes them: a
    name two hosts both list must have one value."""
    zone = {}
    for name in ALOHA:
        for record, value in dns_txt_records(dns_records_path(name)).items():
            assert zone.setdefault(record, value) == value, "%s differs between the hosts' record files" % record
    return zone


def test_hosts_sharing_a_domain_verify_against_one_set_of_records():
    zone = published_records()
    dkim_names = sorted(n for n in zone if "._domainkey." in n)
    # One record for the shared domain, one for each host's own domain.
    assert len([n for n in dkim_names if n.endswith("._domainkey." + SHARED)]) == 1, dkim_names
    assert len(dkim_names) == len(ALOHA) + 1, dkim_names
    clear_messages()
    for name in ALOHA:
        proc = send_test_email(name, recipient(name))
        assert proc.rc == 0, proc.stdout + proc.stderr
    for name in ALOHA:
        msgs = wait_for_emails(name)
        assert len(msgs) == 2, msgs
        domains = sorted(dkim_tags(m["raw"])["d"] for m in msgs)
        assert domains == sorted([SHARED, "%s.%s" % (name, SHARED)])
        for m in msgs:
            assert dkim_verifies(m["raw"], zone), m["raw"]


def test_a_domain_two_hosts_would_each_make_a_key_for_is_refused_before_any_change():
    """fleet.aloha.test has no key in Vault: each host would generate its
    own under the one selector. aloha.test, given from Vault, is no clash."""
    before = {name: file_checksums(name, FILES) for name in ALOHA}
    domains = [SHARED, "fleet.aloha.test"]
    proc = run_role("aloha", {"aloha_email_local_domains": domains}, playbook=CONVERGE)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "._domainkey.fleet.aloha.test (%s)" % ", ".join(sorted(ALOHA)) in out, proc.stdout
    assert "._domainkey.aloha.test (" not in out
    for fix in ("aloha_email_local_dkim_keys", "aloha_email_local_dkim_selector", "playbooks/dkim_rotate.yml"):
        assert fix in out, proc.stdout
    assert "Nothing was changed on the hosts of this run." in out
    for name in ALOHA:
        assert file_checksums(name, FILES) == before[name]
        assert not host(name).file("/etc/opendkim/keys/fleet.aloha.test").exists
