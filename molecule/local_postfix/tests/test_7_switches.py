"""Local mode's variables set to non-default values, each shown in what
postfix and OpenDKIM then do: postfix's names, unrestricted senders, the
milter's default action with OpenDKIM down, an extra sender domain (and a
selector that names only the first key), a wrong smarthost password
(refused by the smarthost preflight before any change; without the
preflight, rolled back so that mail flows again), secure logging off at
-vvv, and on (the default) at -vvv. Each test leaves the host as the scenario converged it."""

import configparser
import hashlib
import json
import re
import time

import pytest

from alohatest import (active_selector, clear_messages, dns_records_path, dns_txt_records, file_checksums, host, host_names,
                       messages, messages_for, password_forms, postconf, recipient, run_role, set_smtp_password,
                       signed_test_emails, task_output, vault_vars_file, write_file)

ALOHA = host_names("aloha")
TARGET = ALOHA[-1]
CONVERGE = "molecule/local_postfix/converge.yml"
PASSWORD = "s3cret-Pa55"  # the SMTP fixture's default account, as in vault.yml
# What a re-run writes back byte for byte (postmap's .db is rebuilt, so it
# is compared only where the rollback restores it).
LOCAL_FILES = ("/etc/postfix/main.cf", "/etc/postfix/sasl_passwd", "/etc/mailname", "/etc/opendkim.conf",
               "/etc/opendkim/KeyTable", "/etc/opendkim/SigningTable", "/etc/aloha/settings.py",
               "/etc/aloha/aloha-secrets.conf")
SASL_DB = ("/etc/postfix/sasl_passwd.db",)


def role(extra=None, **kwargs):
    return run_role(TARGET, extra or {}, playbook=CONVERGE, **kwargs)


@pytest.fixture()
def unchanged():
    """The files before the test; after it they must be as before. Alone,
    for a test whose runs fail and change nothing, or roll back."""
    before = file_checksums(TARGET, LOCAL_FILES)
    yield before
    assert file_checksums(TARGET, LOCAL_FILES) == before


@pytest.fixture()
def restore(unchanged):
    """The scenario's configuration again after the test (a role run),
    checked by unchanged's teardown, which runs after this one."""
    yield unchanged
    proc = role()
    assert proc.returncode == 0, proc.stdout


def smtp_answer(script):
    """Run a small smtplib script against postfix on the host; its output."""
    return host(TARGET).check_output("python3 -c '%s'" % script.replace("'", "'\"'\"'"))


# postfix's smtpd_delay_reject: sender restrictions answer at RCPT TO.
FOREIGN = '''
import smtplib
s = smtplib.SMTP("localhost", 25, timeout=15)
s.mail("spam@example.org")
print(s.rcpt("someone@example.org")[0])
s.quit()
'''

SEND = '''
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "support@aloha.test", %r, %r
m.set_content("milter test")
try:
    smtplib.SMTP("localhost", 25, timeout=15).send_message(m)
    print("accepted")
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
'''


def test_postfix_names_unrestricted_senders_and_milter_accept(restore):
    """Three switches of postfix's main.cf in one run (one restore): they
    touch different parameters, and each is shown in what postfix does."""
    h = host(TARGET)
    to = recipient(TARGET)
    # The defaults first: a foreign sender is refused, and with OpenDKIM
    # down nothing leaves unsigned (tempfail: a 4xx reply).
    assert smtp_answer(FOREIGN).startswith("5")
    h.check_output("systemctl stop opendkim")
    try:
        assert smtp_answer(SEND % (to, "tempfail")).strip().startswith("4")
    finally:
        h.check_output("systemctl start opendkim")
    switches = {"aloha_email_local_myhostname": "mx.%s.aloha.test" % TARGET,
                "aloha_email_local_mailname": "mail.%s.aloha.test" % TARGET,
                "aloha_email_local_myorigin": "$myhostname",
                "aloha_email_local_restrict_senders": False,
                "aloha_email_local_milter_default_action": "accept"}
    clear_messages()
    proc = role(switches)
    assert proc.returncode == 0, proc.stdout
    conf = postconf(TARGET)
    # Names: postfix greets with the new name; the test emails went out signed.
    assert "myhostname = mx.%s.aloha.test" % TARGET in conf
    assert "myorigin = $myhostname" in conf
    assert h.file("/etc/mailname").content_string == "mail.%s.aloha.test\n" % TARGET
    greeting = 'import smtplib; code, text = smtplib.SMTP().connect("localhost", 25); print(code, text.decode())'
    assert smtp_answer(greeting).strip() == "220 mx.%s.aloha.test ESMTP" % TARGET
    signed_test_emails(TARGET)
    # Unrestricted senders: no sender restriction, a foreign sender passes.
    assert not [line for line in conf if line.startswith("smtpd_sender_restrictions")]
    assert smtp_answer(FOREIGN).strip() == "250"
    # The milter's default action accept: with OpenDKIM down, mail leaves unsigned.
    assert "milter_default_action = accept" in conf
    h.check_output("systemctl stop opendkim")
    try:
        clear_messages()
        assert smtp_answer(SEND % (to, "accept")).strip() == "accepted"
        deadline = time.monotonic() + 60
        while not [m for m in messages_for(messages(), TARGET) if m["headers"]["Subject"] == "accept"]:
            assert time.monotonic() < deadline, "the unsigned message never arrived"
            time.sleep(1)
        (msg,) = [m for m in messages_for(messages(), TARGET) if m["headers"]["Subject"] == "accept"]
        assert "DKIM-Signature" not in msg["raw"]
    finally:
        h.check_output("systemctl start opendkim")


MILTER_SOCKET = "/var/spool/postfix/opendkim/opendkim.sock"


def test_milter_default_action_reject_refuses_the_test_emails_and_rolls_back(unchanged):
    """reject while OpenDKIM does not answer (it runs, but its socket is
    gone, so the role's start leaves it so): postfix refuses Aloha's mail
    with a 5xx at the SMTP step, and the run fails naming OpenDKIM, with
    every file restored and postfix back on tempfail."""
    h = host(TARGET)
    h.check_output("rm -f %s" % MILTER_SOCKET)
    try:
        proc = role({"aloha_email_local_milter_default_action": "reject"})
        assert proc.returncode != 0
        assert "send_test_email failed (dkim_milter_unavailable)" in proc.stdout, proc.stdout
        assert re.search(r"\b5\d\d\b[^\n]*Service unavailable", proc.stdout), proc.stdout
        assert "systemctl status opendkim" in proc.stdout
        assert "The previous configuration was restored" in proc.stdout
        assert file_checksums(TARGET, LOCAL_FILES) == unchanged
        assert "milter_default_action = tempfail" in postconf(TARGET)
        assert h.service("postfix").is_running
        assert not h.check_output("postqueue -j").strip()
    finally:
        h.check_output("systemctl restart opendkim")


def test_extra_sender_domain_gets_its_own_key(restore):
    """aloha_email_local_dkim_selector names only the first key: this host
    already signs with its recorded selector, which the run says, and the
    new domain's key is made under that selector."""
    selector = json.loads(host(TARGET).file("/etc/opendkim/aloha-email-selectors.json").content_string)["active"]
    domains = ["aloha.test", "%s.aloha.test" % TARGET, "news.aloha.test"]
    proc = role({"aloha_email_local_domains": domains, "aloha_email_local_dkim_selector": "aloha2027"})
    assert proc.returncode == 0, proc.stdout
    assert 'this host signs with DKIM selector "%s"' % selector in proc.stdout
    key = host(TARGET).file("/etc/opendkim/keys/news.aloha.test/%s.private" % selector)
    assert (key.user, key.mode) == ("opendkim", 0o600)
    assert not host(TARGET).file("/etc/opendkim/keys/news.aloha.test/aloha2027.private").exists
    assert "%s._domainkey.news.aloha.test" % selector in dns_txt_records(dns_records_path(TARGET))
    assert "news.aloha.test" in host(TARGET).file("/etc/opendkim/SigningTable").content_string


ALOHA_CONF = "/etc/aloha/aloha.conf"


def aloha_conf(name):
    parser = configparser.RawConfigParser()
    parser.read_string(host(name).file(ALOHA_CONF).content_string)
    return parser


@pytest.mark.parametrize("name", ALOHA)
def test_aloha_conf_keeps_postfix_across_aloha_upgrades(name):
    conf = aloha_conf(name)
    assert conf.get("postfix", "uninstall") == "false"
    assert conf.get("machine", "deploy_type") == "production"


def test_installer_managed_postfix_refuses_local_mode(unchanged):
    h = host(TARGET)
    original = h.file(ALOHA_CONF).content_string
    write_file(h, ALOHA_CONF, "[machine]\ndeploy_type = production\n\n[postfix]\nmailname = chat.aloha.test\n")
    try:
        before = file_checksums(TARGET, LOCAL_FILES + (ALOHA_CONF,))
        proc = role()
        assert proc.returncode != 0
        assert "incoming email gateway" in proc.stdout and "aloha_email_mode: system" in proc.stdout, proc.stdout
        assert file_checksums(TARGET, LOCAL_FILES + (ALOHA_CONF,)) == before
    finally:
        write_file(h, ALOHA_CONF, original)


def test_wrong_smarthost_password_is_refused_before_any_change(unchanged):
    wrong = "Wr0ng-relay;pass%x"
    h = host(TARGET)
    # Without the upgrade flag, the failed run below adds it, then takes it back.
    conf = h.file(ALOHA_CONF).content_string
    write_file(h, ALOHA_CONF, "[machine]\ndeploy_type = production\n")
    sasl_db = file_checksums(TARGET, SASL_DB)
    proc = role({"aloha_email_local_relay_password": wrong})
    assert proc.returncode != 0
    assert "SMTP preflight failed (auth_refused)" in proc.stdout, proc.stdout
    assert "aloha_email_local_relay_password" in proc.stdout and "Nothing was changed." in proc.stdout
    assert file_checksums(TARGET, LOCAL_FILES) == unchanged
    # Without the preflight the change is made, postfix cannot relay, and
    # the rollback puts postfix back on the working password.
    proc = role({"aloha_email_local_relay_password": wrong, "aloha_email_preflight": False,
                 "aloha_email_verify_force": True, "aloha_email_local_relay_wait": 20})
    assert proc.returncode != 0
    assert "The previous configuration was restored" in proc.stdout, proc.stdout
    for form in password_forms(wrong, "aloha@aloha.test"):
        assert form not in proc.stdout
    assert file_checksums(TARGET, LOCAL_FILES) == unchanged
    assert file_checksums(TARGET, SASL_DB) == sasl_db
    assert h.file(ALOHA_CONF).content_string == "[machine]\ndeploy_type = production\n"
    write_file(h, ALOHA_CONF, conf)
    assert wrong not in host(TARGET).check_output("cat /etc/postfix/sasl_passwd")
    # The test emails stuck during the failed run leave after the rollback.
    host(TARGET).check_output("postqueue -f")
    deadline = time.monotonic() + 60
    while host(TARGET).check_output("postqueue -j").strip():
        assert time.monotonic() < deadline, host(TARGET).check_output("postqueue -p")
        time.sleep(2)


def pem_fragments(pem, size=16):
    """Every line of a PEM body and every SIZE-character piece of it: any
    of them in the output means key material leaked, however wrapped."""
    lines = [ln for ln in pem.strip().splitlines() if not ln.startswith("-----")]
    body = "".join(lines)
    return set(lines) | {body[i:i + size] for i in range(0, len(body) - size + 1, size)}


SASL_PASSWD = "/etc/postfix/sasl_passwd"


def file_digests(name, path):
    """The checksums Ansible prints of a file (stat's and copy's sha1, copy's
    md5) and the role's own (sha1), made on the host from the file itself.
    The smarthost password file is its host, port and user (in main.cf and
    the inventory) and the password: any of its digests confirms a guessed
    password offline, so it is a leak."""
    out = host(name).check_output("md5sum %s; sha1sum %s; sha256sum %s" % ((path,) * 3))
    return {line.split()[0] for line in out.splitlines()}


def secret_digests(*secrets):
    return {getattr(hashlib, algo)(text.encode()).hexdigest() for text in secrets
            for algo in ("md5", "sha1", "sha256")}


def signing_key_as_vault_file(tmp_path):
    """The key the host signs aloha.test with, and a vault file that gives
    the same key as aloha_email_local_dkim_keys (so the host keeps signing
    as before)."""
    selector = active_selector(TARGET)
    pem = host(TARGET).check_output("cat /etc/opendkim/keys/aloha.test/%s.private" % selector)
    keys = tmp_path / "dkim-vault.yml"
    vault_vars_file(keys, {"aloha_email_local_dkim_keys": [
        {"domain": "aloha.test", "selector": selector, "private_key": pem}]})
    return pem, keys


def test_secure_logging_off_hides_no_local_secret(restore, tmp_path):
    """A new smarthost password (the fixture's account changed with it) and
    the DKIM key given from a vault file, at -vvv with secure logging off:
    the password file's task result stays hidden (its checksums would let a
    guess be confirmed offline), never its content; the key's
    task result stays hidden, and no piece of the private key appears. The key given is the one the host
    signs with, so the host keeps signing as before."""
    new = "N3w-relay'pa55\"%x"
    pem, keys = signing_key_as_vault_file(tmp_path)
    old_digests = file_digests(TARGET, SASL_PASSWD)
    set_smtp_password(new)
    try:
        proc = role({"aloha_email_secure_logging": False, "aloha_email_local_relay_password": new}, verbosity=3,
                    extra_args=["-e", "@%s" % keys])
    finally:
        set_smtp_password(PASSWORD)
    assert proc.returncode == 0, proc.stdout
    write = task_output(proc.stdout, "Write the smarthost's SASL password file.")
    assert "changed: [%s]" % TARGET in write and "censored" in write, write
    # The checksums of the smarthost files stay hidden whatever the switch.
    sums = task_output(proc.stdout, "Read the checksums of postfix's main.cf and smarthost password file.")
    assert "[%s] => (item=(censored due to no_log))" % TARGET in sums, sums
    found = [digest for digest in old_digests if digest in proc.stdout]
    assert not found, [line for line in proc.stdout.splitlines() if any(d in line for d in found)][:5]
    for form in password_forms(new, "aloha@aloha.test"):
        assert form not in proc.stdout
    assert not re.search(re.escape("N3w-relay"), proc.stdout)
    # The key's task stays hidden whatever the switch: its item is the key.
    install = task_output(proc.stdout, "Install the DKIM private keys given from Vault.")
    assert "[%s] => (item=(censored due to no_log))" % TARGET in install, install
    assert not [piece for piece in pem_fragments(pem) if piece in proc.stdout]


def test_secure_logging_hides_the_local_secrets_at_vvv(restore, tmp_path):
    """Secure logging on (the default) at -vvv, with a new smarthost
    password (the fixture's account changed with it) and the DKIM key given
    from a vault file: the tasks that hold them (the password file's write,
    the checksums of the smarthost files, the key's install) are censored,
    and no form of the password, no piece of the key and no digest of the
    password file (old or new) or of either secret is in the output."""
    new = "N3w-relay'pa55\"%y"
    pem, keys = signing_key_as_vault_file(tmp_path)
    digests = file_digests(TARGET, SASL_PASSWD) | secret_digests(PASSWORD, new, pem.strip(), pem.strip() + "\n")
    set_smtp_password(new)
    try:
        proc = role({"aloha_email_local_relay_password": new}, verbosity=3, extra_args=["-e", "@%s" % keys])
    finally:
        set_smtp_password(PASSWORD)
    assert proc.returncode == 0, proc.stdout
    assert new in host(TARGET).check_output("cat %s" % SASL_PASSWD)
    digests |= file_digests(TARGET, SASL_PASSWD)
    write = task_output(proc.stdout, "Write the smarthost's SASL password file.")
    assert "changed: [%s]" % TARGET in write and "censored" in write, write
    sums = task_output(proc.stdout, "Read the checksums of postfix's main.cf and smarthost password file.")
    assert "[%s] => (item=(censored due to no_log))" % TARGET in sums, sums
    install = task_output(proc.stdout, "Install the DKIM private keys given from Vault.")
    assert "[%s] => (item=(censored due to no_log))" % TARGET in install, install
    for form in password_forms(new, "aloha@aloha.test") | password_forms(PASSWORD, "aloha@aloha.test"):
        assert form not in proc.stdout
    assert not [piece for piece in pem_fragments(pem) if piece in proc.stdout]
    assert not [digest for digest in digests if digest in proc.stdout]


def test_own_main_cf_parameters_and_inet_protocols(restore):
    """aloha_email_local_postfix_extra: a name that is no postfix parameter
    or one the role sets is refused before any change; a value postfix
    refuses fails postfix's check, and every file is restored; good ones
    reach main.cf beside inet_protocols, and mail still goes out signed."""
    before = file_checksums(TARGET, LOCAL_FILES + SASL_DB)
    proc = role({"aloha_email_local_postfix_extra": {"smtp-helo-name": "x", "relayhost": "[mx.example.org]"}})
    assert proc.returncode != 0
    assert "aloha_email_local_postfix_extra has ['smtp-helo-name']" in proc.stdout, proc.stdout
    assert "relayhost (set it with aloha_email_local_relay_host)" in proc.stdout
    assert "Remove them from aloha_email_local_postfix_extra" in proc.stdout
    assert "TASK [aloha_email : Check the Aloha user and deployment" not in proc.stdout
    assert file_checksums(TARGET, LOCAL_FILES + SASL_DB) == before
    # mail_owner must name an unprivileged user: postfix check refuses root.
    proc = role({"aloha_email_local_postfix_extra": {"mail_owner": "root"}, "aloha_email_local_inet_protocols": "ipv4"})
    assert proc.returncode != 0
    assert "mail_owner" in proc.stdout and "The previous configuration was restored" in proc.stdout, proc.stdout
    assert file_checksums(TARGET, LOCAL_FILES + SASL_DB) == before
    assert host(TARGET).service("postfix").is_running
    clear_messages()
    extra = {"message_size_limit": 20480000, "smtp_helo_timeout": "120s"}
    proc = role({"aloha_email_local_postfix_extra": extra, "aloha_email_local_inet_protocols": "ipv4"})
    assert proc.returncode == 0, proc.stdout
    conf = postconf(TARGET)
    for line in ("message_size_limit = 20480000", "smtp_helo_timeout = 120s", "inet_protocols = ipv4"):
        assert line in conf
    # IPv4 only: postfix listens on 127.0.0.1, no longer on ::1.
    listening = host(TARGET).check_output("ss -Hltn 'sport = :25'")
    assert "127.0.0.1:25" in listening and "[::1]:25" not in listening, listening
    signed_test_emails(TARGET)
