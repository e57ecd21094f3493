"""A second converge changes nothing and keeps the keys; bad local-mode
input is refused before any change."""

import re

import pytest

from alohatest import file_checksums, host_names, run_role

ALOHA = host_names("aloha")
TARGET = ALOHA[0]
CONVERGE = "molecule/local_postfix/converge.yml"
FILES = ("/etc/aloha/settings.py", "/etc/postfix/main.cf", "/etc/opendkim.conf", "/etc/opendkim/KeyTable",
         "/etc/opendkim/keys/*/*.private", "/etc/postfix/sasl_passwd")


def checksums(name):
    return file_checksums(name, FILES)


def test_second_converge_changes_nothing_and_keeps_the_keys():
    before = {n: checksums(n) for n in ALOHA}
    # With the DNS check asking a loopback address where no DNS server
    # listens: the check must report "skipped", never fail or change the
    # host. (Only here: each silent lookup costs the resolver's lifetime.)
    proc = run_role("aloha", {"aloha_email_local_dns_check": True,
                              "aloha_email_local_dns_check_nameservers": ["127.0.0.1"]}, playbook=CONVERGE)
    assert proc.returncode == 0, proc.stdout
    for n in ALOHA:
        assert re.search(r"%s\s*:\s*ok=\d+\s+changed=0\s" % re.escape(n), proc.stdout), proc.stdout
        assert checksums(n) == before[n]
    assert proc.stdout.count("._domainkey.aloha.test.: no answer from DNS, check skipped.") == len(ALOHA), proc.stdout


@pytest.mark.parametrize("extra, variable", [
    ({"aloha_email_local_relay_password": ""}, "aloha_email_local_relay_password"),
    ({"aloha_email_local_dkim_selector": "bad_selector!"}, "aloha_email_local_dkim_selector"),
    ({"aloha_email_local_relay_host": "[smtp.aloha.test]:587"}, "aloha_email_local_relay_host"),
    ({"aloha_email_local_domains": ["not a domain"]}, "aloha_email_local_domains"),
    ({"aloha_email_local_dkim_rotation": "finish"}, "dkim_rotate"),
])
def test_bad_local_input_fails_before_any_change(extra, variable):
    before = checksums(TARGET)
    proc = run_role(TARGET, extra, playbook=CONVERGE)
    assert proc.returncode != 0
    assert variable in proc.stdout
    assert "s3cret-Pa55" not in proc.stdout
    assert checksums(TARGET) == before
