"""playbooks/dkim_rotate.yml: step 1 adds the new selector (signing goes on
with the old one), step 2 signs with the new one and retires the old key;
the mail then verifies against the new record. Later tests expect the
new selector rot2."""

from alohatest import (ROOT, clear_messages, dkim_tags, dkim_verifies, dns_records_path, dns_txt_records, host,
                       host_names, run_role, wait_for_emails)

ALOHA = host_names("aloha")
VAULT = ["-e", "@" + str(ROOT / "molecule/local_postfix/vault.yml")]
NEW = "rot2"
ROTATE = "playbooks/dkim_rotate.yml"


def signed_with(name):
    msgs = wait_for_emails(name)
    assert len(msgs) == 2, msgs
    return msgs, [dkim_tags(m["raw"])["s"] for m in msgs]


def test_two_step_rotation():
    clear_messages()
    step1 = run_role("aloha", {"dkim_rotate_selector": NEW}, playbook=ROTATE, extra_args=VAULT)
    assert step1.returncode == 0, step1.stdout
    for name in ALOHA:
        records = dns_txt_records(dns_records_path(name))
        assert "rot2._domainkey.aloha.test" in records and "aloha._domainkey.aloha.test" in records
        assert "rot2._domainkey.aloha.test" in step1.stdout
        h = host(name)
        assert h.file("/etc/opendkim/keys/aloha.test/rot2.private").mode == 0o600
        # Still signing with the old key (OpenDKIM restarted: verified again).
        msgs, selectors = signed_with(name)
        assert selectors == ["aloha", "aloha"]
        assert all(dkim_verifies(m["raw"], records) for m in msgs)
    clear_messages()

    step2 = run_role("aloha", {"dkim_rotate_published": True}, playbook=ROTATE, extra_args=VAULT)
    assert step2.returncode == 0, step2.stdout
    for name in ALOHA:
        records = dns_txt_records(dns_records_path(name))
        assert "aloha._domainkey.aloha.test" not in records
        new_only = {k: v for k, v in records.items() if k.startswith("rot2.")}
        msgs, selectors = signed_with(name)
        assert selectors == [NEW, NEW]
        assert all(dkim_verifies(m["raw"], new_only) for m in msgs)
        h = host(name)
        assert not h.file("/etc/opendkim/keys/aloha.test/aloha.private").exists
        assert h.file("/etc/opendkim/keys/aloha.test/rot2.private").user == "opendkim"
