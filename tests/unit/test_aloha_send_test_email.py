"""Tests of scrub/classify_failure on real smtplib output, and of the
aloha_send_test_email module run for real through Ansible against a fake
Aloha deployment whose manage.py talks SMTP to a local scripted server."""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import sys

import pytest

import conftest

import aloha_send_test_email
from ansible.module_utils.aloha_email_smtp import (
    MASK,
    classify_failure,
    failure_summary,
    scrub,
)

USER = "mailer@aloha.test"
PASSWORD = "Pa55;w%rd#\"x'\\{{ y }}"
GOOD = "right-password"
RECIPIENT = "ops@aloha.test"
# The module runs manage.py directly when it already runs as `user`.
CURRENT_USER = pwd.getpwuid(os.geteuid()).pw_name


def b64(text):
    return base64.b64encode(text.encode()).decode()


def leaked_forms(user, password):
    """Every form in which the credentials could leak from a transcript."""
    return [password, b64(password), b64("\0%s\0%s" % (user, password)),
            b64(user), user]


def run_case(fake_aloha, **settings):
    fake_aloha.configure(**settings)
    rc, out, err = fake_aloha.run(RECIPIENT)
    return rc, out + "\n" + err


# --- scrub ------------------------------------------------------------------

def test_scrub_real_auth_plain_and_login_transcript(fake_aloha, smtp_server):
    # The server offers PLAIN and LOGIN: smtplib tries PLAIN, then LOGIN,
    # so one transcript has both shapes.
    port, _ = smtp_server(accounts={USER: GOOD})
    rc, output = run_case(fake_aloha, port=port, user=USER, password=PASSWORD)
    assert rc == 1
    assert "send: 'AUTH PLAIN %s\\r\\n'" % b64("\0%s\0%s" % (USER, PASSWORD)) in output
    assert "send: 'AUTH LOGIN %s\\r\\n'" % b64(USER) in output
    assert "send: '%s\\r\\n'" % b64(PASSWORD) in output

    clean = scrub(output, [PASSWORD, USER])
    for form in leaked_forms(USER, PASSWORD):
        assert form not in clean
    assert "send: 'AUTH PLAIN ********\\r\\n'" in clean
    assert "send: 'AUTH LOGIN ********\\r\\n'" in clean
    assert "send: '********\\r\\n'" in clean
    # The rest of the transcript is kept, line for line.
    assert "reply: b'535 5.7.8 Authentication credentials invalid\\r\\n'" in clean
    assert "reply: b'334 UGFzc3dvcmQ6\\r\\n'" in clean
    assert "AUTH PLAIN LOGIN" in clean  # the EHLO capability line
    assert len(clean.splitlines()) == len(output.splitlines())


def test_scrub_masks_auth_lines_even_without_knowing_the_values(fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, mechanisms=("LOGIN",))
    rc, output = run_case(fake_aloha, port=port, user=USER, password=PASSWORD)
    assert rc == 1
    clean = scrub(output, [])
    for form in (b64(USER), b64(PASSWORD)):
        assert form not in clean
    assert "send: 'AUTH LOGIN ********\\r\\n'" in clean
    lines = clean.splitlines()
    index = lines.index("send: 'AUTH LOGIN ********\\r\\n'")
    assert lines[index + 3] == "send: '********\\r\\n'"


def test_scrub_successful_login_keeps_later_commands(fake_aloha, smtp_server):
    port, behaviour = smtp_server(accounts={USER: PASSWORD}, mechanisms=("LOGIN",),
                                  refuse_recipient=r"ops@.*")
    rc, output = run_case(fake_aloha, port=port, user=USER, password=PASSWORD)
    assert rc == 1 and behaviour.logins == [(USER, PASSWORD)]
    clean = scrub(output, [PASSWORD])
    assert b64(PASSWORD) not in clean and b64(USER) not in clean
    # Once the server said 235, the next commands are not masked.
    assert "send: 'mail FROM:<admin@aloha.test>\\r\\n'" in clean
    assert "send: 'rcpt TO:<ops@aloha.test>\\r\\n'" in clean


def test_scrub_raw_and_repr_occurrences_anywhere():
    password = "it's a \"pw\" \\ too"
    text = "\n".join([
        "Traceback (most recent call last):",
        "  login(%r, %r)" % (USER, password),
        "ValueError: bad password %s" % password,
        "debug: AUTH blob %s" % b64("\0%s\0%s" % (USER, password)),
        "random %s and %s" % (b64(password), repr(password.encode())),
        "json: %s" % '"it\'s a \\"pw\\" \\\\ too"',
    ])
    clean = scrub(text, [password, USER])
    assert USER not in clean
    assert "pw" not in clean
    assert b64(password) not in clean and b64(password).rstrip("=") not in clean
    assert clean.count(MASK) >= 7
    assert clean.splitlines()[0] == "Traceback (most recent call last):"


def test_scrub_bytes_repr_auth_line_and_timestamps():
    blob = b64("\0u\0p4ss")
    text = ("12:00:00.000001 send: b'AUTH PLAIN %s\\r\\n'\n"
            "reply: retcode (235); Msg: b'2.7.0 ok'\n"
            "AUTH XOAUTH2 %s\n"
            "250 AUTH PLAIN LOGIN CRAM-MD5\n") % (blob, blob)
    clean = scrub(text, None)
    assert blob not in clean
    assert "send: b'AUTH PLAIN ********\\r\\n'" in clean
    assert "AUTH XOAUTH2 ********" in clean
    assert clean.endswith("250 AUTH PLAIN LOGIN CRAM-MD5\n")


def test_scrub_ignores_empty_secrets_and_keeps_text():
    text = "Sending 2 test emails from:\n  * admin@aloha.test\n"
    assert scrub(text, ["", None]) == text
    assert scrub(None, ["x"]) is None


# --- classify_failure on real outputs -----------------------------------------

def assert_cause(output, cause, *fix_words, **kwargs):
    got_cause, fix = classify_failure(output, **kwargs)
    assert got_cause == cause, (got_cause, output)
    for word in fix_words:
        assert word in fix, (word, fix)
    return fix


def test_classify_auth_refused(fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD})
    rc, output = run_case(fake_aloha, port=port, user=USER, password="typo")
    assert rc == 1
    fix = assert_cause(output, "auth_refused", "aloha_email_host_user", "aloha_email_password",
                       "/etc/aloha/aloha-secrets.conf", "email_password")
    assert "typos" in fix
    assert failure_summary(output) == (
        "Failed to send mails: (535, b'5.7.8 Authentication credentials invalid')")


def test_classify_login_required_but_no_password(fake_aloha, smtp_server):
    # Aloha with a user but no email_password does not log in: 530 on MAIL.
    port, _ = smtp_server(accounts={USER: GOOD})
    rc, output = run_case(fake_aloha, port=port, user=USER, password="")
    assert rc == 1 and "530" in output
    assert_cause(output, "auth_refused", "aloha_email_password", "aloha_email_host_user")


def test_classify_tokenized_sender_refused(fake_aloha, smtp_server):
    port, behaviour = smtp_server(accounts={USER: GOOD}, refuse_sender=r"noreply-.*@aloha\.test")
    rc, output = run_case(fake_aloha, port=port, user=USER, password=GOOD)
    assert rc == 1
    assert [m["sender"] for m in behaviour.messages] == ["admin@aloha.test"]
    fix = assert_cause(output, "sender_refused",
                       "aloha_email_add_tokens_to_noreply_address: false",
                       "ADD_TOKENS_TO_NOREPLY_ADDRESS = False in /etc/aloha/settings.py",
                       "helpdesk", "certain domain")
    assert re.search(r"noreply-[a-z2-7]{24}@aloha\.test", fix)
    assert failure_summary(output).startswith("Failed to send mails: (550, b'5.7.1 Sender address not allowed")


def test_classify_plain_sender_refused(fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, refuse_sender=r"admin@.*")
    rc, output = run_case(fake_aloha, port=port, user=USER, password=GOOD)
    assert rc == 1
    fix = assert_cause(output, "sender_refused", "allow this From address",
                       "admin@aloha.test")
    assert "aloha_email_add_tokens_to_noreply_address" not in fix


def test_classify_recipient_refused(fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, refuse_recipient=r"ops@.*")
    rc, output = run_case(fake_aloha, port=port, user=USER, password=GOOD)
    assert rc == 1
    assert_cause(output, "recipient_refused", RECIPIENT, "aloha_email_test_recipient")


def test_classify_starttls_spoken_to_ssl_port(fake_aloha, smtp_server):
    # A 465-style port never greets a plain client; Aloha times out (15 s;
    # 1 s here) with "Connection unexpectedly closed: timed out".
    port, _ = smtp_server(mode="silent")
    rc, output = run_case(fake_aloha, port=port, use_tls=True, timeout=1)
    assert rc == 1
    assert "Failed to send mails: Connection unexpectedly closed: timed out" in output
    fix = assert_cause(output, "starttls_on_ssl_port",
                       "aloha_email_port: 465", "aloha_email_use_ssl: true",
                       "aloha_email_use_tls: false", "587", port=465, use_tls=True)
    assert "port 465" in fix


def test_classify_port_blocked(fake_aloha, blocked_port):
    rc, output = run_case(fake_aloha, port=blocked_port, timeout=1)
    assert rc == 1
    assert "TimeoutError: timed out" in output
    assert "Connection unexpectedly closed" not in output
    fix = assert_cause(output, "port_blocked", "port 2587", "firewall",
                       "aloha_email_port", port=2587)
    assert "hosting provider may block outgoing SMTP on port 2587" in fix
    assert failure_summary(output) == "TimeoutError: timed out"


def test_classify_connection_refused(fake_aloha, closed_port):
    rc, output = run_case(fake_aloha, port=closed_port)
    assert rc == 1 and "ConnectionRefusedError" in output
    assert_cause(output, "connection_refused", "aloha_email_port", "aloha_email_host",
                 "port %d" % closed_port, port=closed_port)
    assert failure_summary(output).startswith("ConnectionRefusedError: [Errno 111]")


def test_classify_ssl_spoken_to_starttls_port(fake_aloha, smtp_server):
    port, _ = smtp_server()
    rc, output = run_case(fake_aloha, port=port, use_ssl=True)
    assert rc == 1
    assert "WRONG_VERSION_NUMBER" in output
    assert_cause(output, "ssl_on_starttls_port", "aloha_email_use_ssl: false",
                 "aloha_email_use_tls: true", port=port, use_ssl=True)


def test_classify_certificate_untrusted(fake_aloha, smtp_server, self_signed_tls):
    port, _ = smtp_server(tls_context=self_signed_tls)
    rc, output = run_case(fake_aloha, port=port, use_ssl=True)
    assert rc == 1 and "CERTIFICATE_VERIFY_FAILED" in output
    assert_cause(output, "certificate_untrusted", "aloha_email_host", "CA")


def test_classify_host_not_found(fake_aloha):
    # glibc refuses this name locally: no DNS query leaves the machine.
    rc, output = run_case(fake_aloha, host="-bad-.invalid")
    assert rc == 1 and "gaierror" in output
    assert_cause(output, "host_not_found", "aloha_email_host")


def test_classify_tls_and_ssl(fake_aloha):
    rc, output = run_case(fake_aloha, use_tls=True, use_ssl=True)
    assert rc == 1 and "mutually exclusive" in output
    assert_cause(output, "tls_and_ssl", "aloha_email_use_tls", "aloha_email_use_ssl")


def test_classify_non_ascii_password(fake_aloha, smtp_server):
    port, behaviour = smtp_server(accounts={USER: GOOD})
    rc, output = run_case(fake_aloha, port=port, user=USER, password="p\u00e4ssw\u00f6rd")
    assert rc == 1 and "UnicodeEncodeError" in output
    assert behaviour.logins == []
    assert_cause(output, "non_ascii_password", "aloha_email_password", "ASCII")


def test_classify_not_configured(fake_aloha):
    rc, output = run_case(fake_aloha, host="")
    assert rc == 1
    assert_cause(output, "not_configured", "aloha_email_host")
    assert "Outgoing email not yet configured" in failure_summary(output)


def test_classify_disconnected(fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, mode="close_after_mail")
    rc, output = run_case(fake_aloha, port=port, user=USER, password=GOOD)
    assert rc == 1 and "Connection unexpectedly closed" in output
    assert_cause(output, "disconnected", "aloha_email_port", "aloha_email_use_tls")


def test_classify_unknown_and_newer_openssl_wording():
    assert classify_failure("Segmentation fault\n")[0] == "unknown"
    # OpenSSL 3.2+ may word the TLS-to-plain-port error differently.
    output = "ssl.SSLError: [SSL] record layer failure (_ssl.c:1000)\n"
    assert classify_failure(output, use_ssl=True)[0] == "ssl_on_starttls_port"


# --- the module ---------------------------------------------------------------

def test_build_command_switches_user_only_when_needed():
    manage = "/home/aloha/deployments/current/manage.py"
    assert aloha_send_test_email.build_command(manage, ["a@x"], "aloha", euid=0,
                                               current_user="root") == [
        "runuser", "-u", "aloha", "--", manage, "send_test_email", "a@x"]
    assert aloha_send_test_email.build_command(manage, ["a@x", "b@x"], "aloha", euid=999,
                                               current_user="aloha") == [
        manage, "send_test_email", "a@x", "b@x"]
    assert aloha_send_test_email.build_command(manage, ["a@x"], "aloha", euid=1000,
                                               current_user="someone") is None


def module_args(fake_aloha, **extra):
    args = dict(deploy_path=str(fake_aloha.deploy), user=CURRENT_USER,
                recipients=[RECIPIENT, "second@aloha.test"],
                secrets=["{{ pw }}", USER])
    args.update(extra)
    return args


@pytest.mark.ansible_cli
def test_module_success(run_module, fake_aloha, smtp_server, target_python):
    port, behaviour = smtp_server(accounts={USER: PASSWORD})
    fake_aloha.configure(port=port, user=USER, password=PASSWORD)
    proc, result = run_module("aloha_send_test_email", module_args(fake_aloha),
                              secrets={"pw": PASSWORD}, python=target_python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is False
    assert result["msg"] == "Sent 2 test emails to ops@aloha.test, second@aloha.test"
    assert "Successfully sent 2 emails to ops@aloha.test, second@aloha.test!" in result["stdout_lines"]
    assert fake_aloha.ran()["argv"][1:] == ["send_test_email", RECIPIENT, "second@aloha.test"]
    senders = [m["sender"] for m in behaviour.messages]
    assert senders[0] == "admin@aloha.test"
    assert re.fullmatch(r"noreply-[a-z2-7]{24}@aloha\.test", senders[1])


def test_module_auth_failure_is_scrubbed_and_explained(run_module, fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD})
    fake_aloha.configure(port=port, user=USER, password=PASSWORD)
    proc, result = run_module("aloha_send_test_email", module_args(fake_aloha, port=587,
                                                                   use_tls=True),
                              secrets={"pw": PASSWORD})
    assert proc.returncode != 0
    assert result["failed"] is True and result["changed"] is False
    assert result["cause"] == "auth_refused"
    assert result["rc"] == 1
    assert result["msg"].startswith(
        "send_test_email failed (auth_refused): Failed to send mails: "
        "(535, b'5.7.8 Authentication credentials invalid'). Fix: the SMTP server "
        "refused the login: check "
        "aloha_email_host_user and the vault password aloha_email_password")
    assert "send: 'AUTH PLAIN ********\\r\\n'" in result["stdout_lines"]
    assert "CommandError: Email sending failed!" in result["stderr_lines"]
    for form in leaked_forms(USER, PASSWORD):
        assert form not in proc.stdout


@pytest.mark.ansible_cli
def test_module_output_clean_at_vvv(run_module, fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, mechanisms=("LOGIN",))
    fake_aloha.configure(port=port, user=USER, password=PASSWORD)
    proc, _ = run_module("aloha_send_test_email", module_args(fake_aloha),
                         secrets={"pw": PASSWORD}, verbosity=3, json_output=False)
    output = proc.stdout + proc.stderr
    assert "FAILED" in output and "auth_refused" in output
    # Ansible's no_log only hides the values as given; the base64 forms are
    # gone because the module scrubbed them.
    for form in leaked_forms(USER, PASSWORD):
        assert form not in output
    assert "AUTH LOGIN ********" in output


def test_module_tokenized_sender_refused(run_module, fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, refuse_sender=r"noreply-.*")
    fake_aloha.configure(port=port, user=USER, password=GOOD)
    proc, result = run_module("aloha_send_test_email", module_args(fake_aloha),
                              secrets={"pw": GOOD})
    assert result["cause"] == "sender_refused"
    assert "aloha_email_add_tokens_to_noreply_address: false" in result["fix"]
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS = False in /etc/aloha/settings.py" in result["fix"]
    assert "helpdesk" in result["fix"]
    assert result["msg"].startswith("send_test_email failed (sender_refused): "
                                    "Failed to send mails: (550, b'5.7.1 Sender address not allowed: noreply-")


def test_module_starttls_timeout(run_module, fake_aloha, smtp_server):
    port, _ = smtp_server(mode="silent")
    fake_aloha.configure(port=port, use_tls=True, timeout=1)
    proc, result = run_module("aloha_send_test_email",
                              module_args(fake_aloha, port=465, use_tls=True, use_ssl=False),
                              secrets={"pw": GOOD})
    assert result["cause"] == "starttls_on_ssl_port"
    assert result["msg"].startswith(
        "send_test_email failed (starttls_on_ssl_port): Failed to send mails: "
        "Connection unexpectedly closed: timed out. Fix: ")
    assert "aloha_email_use_ssl: true" in result["msg"]


def test_module_connection_refused(run_module, fake_aloha, closed_port):
    fake_aloha.configure(port=closed_port)
    proc, result = run_module("aloha_send_test_email",
                              module_args(fake_aloha, port=closed_port),
                              secrets={"pw": GOOD})
    assert result["cause"] == "connection_refused"
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in result["msg"]
    assert any("Traceback" in line for line in result["stderr_lines"])


def test_module_not_configured(run_module, fake_aloha):
    fake_aloha.configure(host="")
    proc, result = run_module("aloha_send_test_email", module_args(fake_aloha),
                              secrets={"pw": GOOD})
    assert result["cause"] == "not_configured"
    assert "aloha_email_host" in result["fix"]
    # The summary is Aloha's own line, from stderr after stdout.
    assert result["msg"] == ("send_test_email failed (not_configured): CommandError: Outgoing email "
                             "not yet configured, see. Fix: %s" % result["fix"])


def test_module_check_mode_runs_nothing(run_module, fake_aloha, smtp_server):
    port, behaviour = smtp_server(accounts={USER: GOOD})
    fake_aloha.configure(port=port, user=USER, password=GOOD)
    proc, result = run_module("aloha_send_test_email", module_args(fake_aloha),
                              secrets={"pw": GOOD}, check=True)
    assert proc.returncode == 0
    assert result["changed"] is False and result["skipped"] is True
    assert result["msg"] == "not run in check mode"
    assert not (fake_aloha.deploy / "ran.json").exists()
    assert behaviour.messages == []


def test_module_missing_manage_py(run_module, tmp_path):
    proc, result = run_module("aloha_send_test_email",
                              dict(deploy_path=str(tmp_path / "nowhere"), user=CURRENT_USER,
                                   recipients=[RECIPIENT]))
    assert result["failed"] is True
    assert result["msg"] == "%s not found: is Aloha deployed at deploy_path %s?" % (
        tmp_path / "nowhere" / "manage.py", tmp_path / "nowhere")


# Local mode: postfix's queue after send_test_email (`postqueue -j` lines,
# in the format postfix 3.7/3.10 prints them).
def queue_line(queue_id, arrival, address, reason=None):
    rcpt = {"address": address}
    if reason:
        rcpt["delay_reason"] = reason
    return json.dumps({"queue_name": "deferred" if reason else "active", "queue_id": queue_id,
                       "arrival_time": arrival, "message_size": 812, "forced_expire": False,
                       "sender": "support@aloha.test", "recipients": [rcpt]})


def test_queued_test_emails_only_new_mail_to_the_test_recipient():
    out = "\n".join([
        queue_line("A1", 1000, "ops@aloha.test"),           # before this run
        "postqueue: warning: not JSON",                     # skipped, not the end
        queue_line("B2", 2000, "Ops@Aloha.test"),           # this run (case differs)
        queue_line("C3", 2001, "someone@example.org"),      # other mail
    ])
    found = aloha_send_test_email.queued_test_emails(out, ["ops@aloha.test"], since=1999)
    assert [e["queue_id"] for e in found] == ["B2"]
    assert aloha_send_test_email.queued_test_emails("", ["ops@aloha.test"], since=0) == []


@pytest.mark.parametrize("reason, cause, variable", [
    ("SASL authentication failed; server smtp.aloha.test[10.88.0.5] said: 535 5.7.8 Error: authentication failed",
     "relay_auth_refused", "aloha_email_local_relay_password"),
    ("Server certificate not verified", "relay_certificate_untrusted", "aloha_email_local_relay_ca_file"),
    ("TLS is required, but was not offered by host smtp.aloha.test[10.88.0.5]", "relay_tls_mismatch",
     "aloha_email_local_relay_port"),
    ("lost connection with smtp.aloha.test[10.88.0.5] while receiving the initial server greeting",
     "relay_tls_mismatch", "aloha_email_local_relay_port"),
    ("connect to smtp.aloha.test[10.88.0.5]:587: Connection timed out", "relay_unreachable",
     "aloha_email_local_relay_host"),
    ("connect to smtp.aloha.test[10.88.0.5]:587: Connection refused", "relay_unreachable",
     "aloha_email_local_relay_port"),
    ("delivery temporarily suspended: something new", "relay_deferred", "postqueue -p"),
])
def test_relay_failure_names_the_cause_and_the_variable(reason, cause, variable):
    got_cause, fix = aloha_send_test_email.relay_failure([reason])
    assert got_cause == cause
    assert variable in fix


class ScriptedQueue:
    """Stands in for AnsibleModule.run_command: `postqueue -j` prints the
    next of SNAPSHOTS (the last one repeats); every call is recorded."""

    def __init__(self, snapshots):
        self.snapshots = list(snapshots)
        self.calls = []

    def get_bin_path(self, name):
        """postfix is the MTA here (system mode without it: see below)."""
        return "/usr/sbin/postqueue" if self.snapshots and name == "postqueue" else None

    def run_command(self, argv):
        self.calls.append(argv)
        if argv == ["postqueue", "-j"]:
            out = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
            return 0, out, ""
        return 0, "", ""


def test_wait_for_relay_retries_only_the_deferred_test_emails(monkeypatch):
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    deferred = queue_line("D4", 2000, "ops@aloha.test", "connect to smtp.aloha.test[10.88.0.5]:587: Connection refused")
    other = queue_line("E5", 2000, "someone@example.org", "Connection refused")
    queue = ScriptedQueue([
        "\n".join([deferred, queue_line("F6", 2000, "ops@aloha.test"), other]),
        other,  # the test emails left the queue; other mail stays
    ])
    assert aloha_send_test_email.wait_for_relay(queue, ["ops@aloha.test"], since=1999, timeout=30, secrets=[]) is None
    flushes = [c for c in queue.calls if c != ["postqueue", "-j"]]
    # D4 retried now; F6 is already being delivered; E5 is not ours.
    assert flushes == [["postqueue", "-i", "D4"]]


def test_wait_for_relay_gives_up_with_the_reason_and_queue_ids(monkeypatch):
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    reason = "SASL authentication failed; server said: 535 5.7.8 Error: authentication failed: pw=s3cret"
    queue = ScriptedQueue([queue_line("D4", 2000, "ops@aloha.test", reason)])
    msg, cause, fix, entries = aloha_send_test_email.wait_for_relay(queue, ["ops@aloha.test"], since=1999,
                                                                     timeout=0, secrets=["s3cret"])
    assert cause == "relay_auth_refused" and "aloha_email_local_relay_password" in fix
    assert "still in its queue" in msg and "535 5.7.8" in msg
    assert "s3cret" not in msg
    assert entries == [{"queue_id": "D4", "queue_name": "deferred"}]


def test_wait_for_relay_without_postfix_has_nothing_to_wait_for():
    """System mode on a host whose MTA is not postfix: no postqueue, no wait."""
    module = ScriptedQueue([])
    assert aloha_send_test_email.wait_for_relay(module, ["ops@example.net"], since=0, timeout=30, secrets=[]) is None
    assert module.calls == []


# --- direct delivery: port 25 blocked, deferrals --------------------------

GREYLISTED = ("host mx.example.net[10.88.0.5] said: 450 4.7.1 <ops@example.net>: Recipient address rejected: "
              "Greylisted, try again later (in reply to RCPT TO command)")


@pytest.mark.parametrize("reason", [
    "connect to mx.example.net[10.88.0.5]:25: Connection timed out",
    "connect to mx.example.net[10.88.0.5]:25: Connection refused",
    "connect to mx.example.net[2001:db8::25]:25: Network is unreachable",
])
def test_port_25_failing_without_smarthost_is_port25_blocked(reason):
    cause, fix = aloha_send_test_email.relay_failure([reason], smarthost="")
    assert cause == "port25_blocked"
    assert "use a smarthost (aloha_email_local_relay_host" in fix


@pytest.mark.parametrize("reason, smarthost", [
    # A smarthost on port 25 that cannot be reached is the smarthost's problem.
    ("connect to smtp.aloha.test[10.88.0.5]:25: Connection refused", "smtp.aloha.test"),
    ("connect to smtp.aloha.test[10.88.0.5]:587: Connection timed out", "smtp.aloha.test"),
    # System mode: whether the host's MTA has a relay is unknown.
    ("connect to mx.example.net[10.88.0.5]:25: Connection timed out", None),
])
def test_connection_failure_with_a_smarthost_stays_relay_unreachable(reason, smarthost):
    assert aloha_send_test_email.relay_failure([reason], smarthost)[0] == "relay_unreachable"


def test_a_servers_4xx_is_deferred_only_when_every_reason_is_one():
    cause, fix = aloha_send_test_email.relay_failure([GREYLISTED], smarthost="")
    assert cause == "deferred" and "aloha_email_local_deferred" in fix
    assert aloha_send_test_email.relay_failure(
        ["host mx.example.net[10.88.0.5] refused to talk to me: 421 4.7.0 Try again later"])[0] == "deferred"
    # One test email stuck on this host's own path out: that is the cause.
    refused = "connect to mx.example.net[10.88.0.5]:25: Connection refused"
    assert aloha_send_test_email.relay_failure([GREYLISTED, refused], smarthost="")[0] == "port25_blocked"
    assert aloha_send_test_email.relay_failure([GREYLISTED, "delivery temporarily suspended"])[0] == "relay_deferred"
    # A 5xx answer is no deferral, nor is a reason without the server's reply.
    assert aloha_send_test_email.relay_failure(["host mx said: 554 5.7.1 no"])[0] == "relay_deferred"
    assert aloha_send_test_email.relay_failure(["delivery temporarily suspended"])[0] == "relay_deferred"


def test_wait_for_relay_warn_returns_at_the_first_deferral(monkeypatch):
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    clock = iter(range(0, 100000, 10))
    monkeypatch.setattr(aloha_send_test_email.time, "monotonic", lambda: next(clock))
    queue = ScriptedQueue([
        queue_line("G7", 2000, "ops@example.net"),  # first attempt still running
        queue_line("G7", 2000, "ops@example.net", GREYLISTED),
    ])
    msg, cause, fix, entries = aloha_send_test_email.wait_for_relay(
        queue, ["ops@example.net"], since=1999, timeout=3600, secrets=[], smarthost="", deferred="warn")
    assert cause == "deferred"
    assert "queue id G7" in msg and "450 4.7.1" in msg and "Greylisted" in msg
    assert entries == [{"queue_id": "G7", "queue_name": "deferred"}]
    # Two looks at the queue and no retry: it did not wait out the hour.
    assert queue.calls == [["postqueue", "-j"], ["postqueue", "-j"]]


def test_wait_for_relay_fail_waits_and_retries_a_deferral(monkeypatch):
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(aloha_send_test_email.time, "monotonic", lambda: next(clock))
    queue = ScriptedQueue([queue_line("G7", 2000, "ops@example.net", GREYLISTED)])
    msg, cause, fix, _ = aloha_send_test_email.wait_for_relay(
        queue, ["ops@example.net"], since=1999, timeout=30, secrets=[], smarthost="", deferred="fail")
    assert cause == "deferred" and "after 30 s they are still in its queue" in msg and "Greylisted" in msg
    assert ["postqueue", "-i", "G7"] in queue.calls


def test_wait_for_relay_warn_still_fails_on_a_blocked_port(monkeypatch):
    """warn is for the receiving server's deferral only: a connection that
    never got an answer waits and fails as before."""
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(aloha_send_test_email.time, "monotonic", lambda: next(clock))
    queue = ScriptedQueue([queue_line("H8", 2000, "ops@example.net",
                                      "connect to mx.example.net[10.88.0.5]:25: Connection timed out")])
    msg, cause, fix, _ = aloha_send_test_email.wait_for_relay(
        queue, ["ops@example.net"], since=1999, timeout=30, secrets=[], smarthost="", deferred="warn")
    assert cause == "port25_blocked" and "after 30 s" in msg and ":25: Connection timed out" in msg
    # It waited: the test email was retried.
    assert ["postqueue", "-i", "H8"] in queue.calls


def scripted_queue_wait(monkeypatch, snapshots, **kwargs):
    """wait_for_relay on SNAPSHOTS of the queue, without sleeping, the
    clock advancing 10 s a look; (result, queue)."""
    monkeypatch.setattr(aloha_send_test_email.time, "sleep", lambda s: None)
    clock = iter(range(0, 100000, 10))
    monkeypatch.setattr(aloha_send_test_email.time, "monotonic", lambda: next(clock))
    queue = ScriptedQueue(snapshots)
    args = dict(since=1999, timeout=30, secrets=[], smarthost="")
    args.update(kwargs)
    return aloha_send_test_email.wait_for_relay(queue, ["ops@example.net"], **args), queue


def test_wait_for_relay_warn_names_every_deferred_test_email(monkeypatch):
    other = GREYLISTED.replace("Greylisted", "Mailbox busy")
    (msg, cause, _, entries), _ = scripted_queue_wait(monkeypatch, ["\n".join([
        queue_line("G7", 2000, "ops@example.net", GREYLISTED),
        queue_line("H8", 2000, "ops@example.net", other)])], deferred="warn")
    assert cause == "deferred"
    assert msg == ("the receiving server deferred 2 test emails (postfix queue id G7, H8): %s; %s. postfix "
                   "retries them; `postqueue -p` on the host shows them until they leave"
                   % tuple(sorted([GREYLISTED, other])))


def test_wait_for_relay_fail_without_a_reason_yet(monkeypatch):
    # Still being delivered at the deadline: postfix gave no reason.
    (msg, cause, fix, _), _ = scripted_queue_wait(monkeypatch, [queue_line("J9", 2000, "ops@example.net")],
                                                  deferred="fail")
    assert cause == "relay_deferred"
    assert msg == ("send_test_email handed 1 test emails to postfix, but after 30 s they are still in its "
                   "queue (relay_deferred; queue id J9): no reason given yet. Fix: %s" % fix)


def test_wait_for_relay_fail_joins_the_reasons(monkeypatch):
    refused = "connect to mx.example.net[10.88.0.5]:25: Connection refused"
    (msg, _, _, _), _ = scripted_queue_wait(monkeypatch, ["\n".join([
        queue_line("G7", 2000, "ops@example.net", GREYLISTED),
        queue_line("H8", 2000, "ops@example.net", refused)])], deferred="fail")
    assert "(port25_blocked; queue id G7, H8): %s; %s. Fix: " % tuple(sorted([GREYLISTED, refused])) in msg


def test_wait_for_relay_remembers_the_reason_of_a_test_email_being_retried(monkeypatch):
    # Deferred with a reason, then active (being retried, no reason shown)
    # at the deadline: the reason seen before is the one reported.
    (msg, cause, _, entries), _ = scripted_queue_wait(monkeypatch, [
        queue_line("G7", 2000, "ops@example.net", "connect to mx.example.net[10.88.0.5]:25: Connection refused"),
        queue_line("G7", 2000, "ops@example.net")], deferred="fail")
    assert cause == "port25_blocked"
    assert ":25: Connection refused" in msg
    assert entries == [{"queue_id": "G7", "queue_name": "active"}]


def test_wait_for_relay_gives_up_at_the_deadline(monkeypatch):
    # Looks at 10, 20 and 30 s of a 30 s wait: the third is the last.
    _, queue = scripted_queue_wait(monkeypatch, [queue_line("G7", 2000, "ops@example.net", GREYLISTED)],
                                   deferred="fail")
    assert queue.calls.count(["postqueue", "-j"]) == 3


def test_wait_for_relay_when_postqueue_fails(monkeypatch):
    class Broken(ScriptedQueue):
        def run_command(self, argv):
            self.calls.append(argv)
            return 1, "", "postqueue: fatal: Queue report unavailable - mail system is down\n"

    result = aloha_send_test_email.wait_for_relay(Broken(["unused"]), ["ops@example.net"], since=0,
                                                  timeout=30, secrets=[])
    assert result == ("postqueue -j failed (rc 1): postqueue: fatal: Queue report unavailable - mail system "
                      "is down", "relay_deferred", "check that postfix runs on this host", [])


def test_deferred_by_server_only_when_every_test_email_waits_in_the_deferred_queue():
    deferred = json.loads(queue_line("G7", 2000, "ops@example.net", GREYLISTED))
    retried = dict(deferred, queue_name="active")
    assert aloha_send_test_email.deferred_by_server([deferred], "") is True
    assert aloha_send_test_email.deferred_by_server([deferred, retried], "") is False
    # A recipient without a reason has not been answered yet.
    unanswered = dict(deferred, recipients=deferred["recipients"] + [{"address": "ops@example.net"}])
    assert aloha_send_test_email.deferred_by_server([unanswered], "") is False


def test_queued_test_emails_include_mail_that_arrived_at_the_start():
    found = aloha_send_test_email.queued_test_emails(queue_line("B2", 1999, "ops@aloha.test"),
                                                     ["ops@aloha.test"], since=1999)
    assert [e["queue_id"] for e in found] == ["B2"]


# postfix's wording of each smarthost failure, and the fix word for word.
RELAY_FIXES = [
    # Microsoft 365's refusal of the smarthost login: only the code says so.
    ("host smtp.office365.com[52.97.1.1] said: 535 5.7.139 Authentication unsuccessful",
     None, "relay_auth_refused",
     "the smarthost refused the login: check aloha_email_local_relay_user and the vault password "
     "aloha_email_local_relay_password"),
    ("Server certificate not trusted", None, "relay_certificate_untrusted",
     "postfix does not trust the smarthost's certificate: give the CA that issued it as "
     "aloha_email_local_relay_ca_file, or set aloha_email_local_relay_host to the name the certificate is "
     "issued for"),
    ("TLS is required, but was not offered by host smtp.aloha.test[10.88.0.5]", None, "relay_tls_mismatch",
     "the smarthost's port speaks the other TLS flavour: use aloha_email_local_relay_port 587 for STARTTLS "
     "or 465 for TLS from the first byte, as the provider says"),
    ("Host or domain name not found. Name service error for name=smtp.aloha.test type=A: Host not found",
     "smtp.aloha.test", "relay_unreachable",
     "postfix cannot reach the smarthost: check aloha_email_local_relay_host and aloha_email_local_relay_port, "
     "and that the firewall lets this host connect out to that port"),
    ("connect to mx.example.net[10.88.0.5]:25: No route to host", "", "port25_blocked",
     "postfix delivers directly (no smarthost) and cannot connect to the recipient's mail server on port 25, "
     "which most hosting providers block: use a smarthost (aloha_email_local_relay_host, with "
     "aloha_email_local_relay_port, aloha_email_local_relay_user and aloha_email_local_relay_password), or "
     "have the provider open outgoing port 25"),
    (GREYLISTED, "", "deferred",
     "the receiving server deferred the mail with a temporary (4xx) reply, as greylisting does; postfix "
     "retries it (`postqueue -p` on the host shows it). Set aloha_email_local_deferred: warn to accept a "
     "deferral with a warning"),
    ("delivery temporarily suspended", None, "relay_deferred",
     "postfix could not pass the mail on yet: see its reason above and `postqueue -p` on the host"),
]


@pytest.mark.parametrize("reason, smarthost, cause, fix", RELAY_FIXES)
def test_relay_failure_gives_its_fix_word_for_word(reason, smarthost, cause, fix):
    assert aloha_send_test_email.relay_failure([reason], smarthost) == (cause, fix)


# --- the module's own steps, with a scripted manage.py -------------------------

def scripted_deploy(tmp_path, body):
    """A deployment whose manage.py runs the Python BODY."""
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    manage = deploy / "manage.py"
    manage.write_text("#!%s\nimport sys\n%s\n" % (sys.executable, body))
    manage.chmod(0o755)
    return deploy


# Django's file backend writes one file per connection; Aloha opens one per
# email, so one file a subject.
FILE_BACKEND = r'''
import os
out = %r
for n, subject in enumerate(SUBJECTS):
    with open(os.path.join(out, "20261130-%%d.log" %% n), "wb") as handle:
        handle.write(("Subject: %%s\r\nFrom: admin@aloha.test\r\n\r\nThis is a test email.\r\n" %% subject).encode()
                     + b"caf\xe9\n")
'''


def file_backend_run(run_module, tmp_path, subjects, **extra):
    mail = tmp_path / "mail"
    mail.mkdir()
    # A file from an earlier run, with both subjects: not this run's.
    (mail / "old.log").write_text("Subject: Aloha email test\nSubject: Aloha noreply email test\n")
    deploy = scripted_deploy(tmp_path, "SUBJECTS = %r\n" % (subjects,) + FILE_BACKEND % str(mail))
    args = dict(deploy_path=str(deploy), user=CURRENT_USER, recipients=[RECIPIENT], file_path=str(mail))
    args.update(extra)
    return mail, deploy, run_module("aloha_send_test_email", args)[1]


def test_file_backend_finds_both_test_emails(run_module, tmp_path):
    mail, deploy, result = file_backend_run(run_module, tmp_path, ["Aloha email test", "Aloha noreply email test"])
    assert result.get("failed") is not True, result
    assert result["files"] == [str(mail / "20261130-0.log"), str(mail / "20261130-1.log")]
    # No "Successfully sent" line to count from: the two test emails.
    assert result["msg"] == "Sent 2 test emails to %s" % RECIPIENT
    assert result["cmd"] == [str(deploy / "manage.py"), "send_test_email", RECIPIENT]


def test_file_backend_names_the_missing_test_email(run_module, tmp_path):
    mail, _, result = file_backend_run(run_module, tmp_path, ["Aloha email test"])
    assert result["failed"] is True and result["cause"] == "file_backend"
    assert result["msg"] == (
        "send_test_email ran, but %s has no new file with 'Aloha noreply email test'. Fix: check that "
        "EMAIL_FILE_PATH (aloha_email_file_path) is writable by the Aloha user and no other EMAIL_BACKEND "
        "overrides the section" % mail)


def test_file_backend_with_no_new_file(run_module, tmp_path):
    # The old file has both subjects; this run wrote none.
    mail, _, result = file_backend_run(run_module, tmp_path, [])
    assert "has no new file with 'Aloha email test' and 'Aloha noreply email test'" in result["msg"]


FAKE_POSTQUEUE = r'''#!%s
import json, sys, time
if sys.argv[1:] != ["-j"]:
    sys.exit(0)
if %r:
    sys.stderr.write("postqueue: fatal: Queue report unavailable - mail system is down\n")
    sys.exit(1)
print(json.dumps({"queue_name": "deferred", "queue_id": "G7", "arrival_time": int(time.time()),
                  "recipients": [{"address": %r, "delay_reason": %r}]}))
'''


def relay_run(run_module, tmp_path, monkeypatch, broken=False, **extra):
    """The module in local mode against a stand-in postqueue on PATH whose
    queue holds one greylisted test email (or which fails: BROKEN)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    postqueue = bin_dir / "postqueue"
    postqueue.write_text(FAKE_POSTQUEUE % (sys.executable, broken, RECIPIENT, GREYLISTED))
    postqueue.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    deploy = scripted_deploy(tmp_path, "print('Successfully sent 2 emails to %s!')" % RECIPIENT)
    args = dict(deploy_path=str(deploy), user=CURRENT_USER, recipients=[RECIPIENT], smarthost="")
    args.update(extra)
    return run_module("aloha_send_test_email", args)[1]


def test_relay_wait_warns_of_a_deferral_and_succeeds(run_module, tmp_path, monkeypatch):
    result = relay_run(run_module, tmp_path, monkeypatch, relay_wait=60)
    assert result.get("failed") is not True, result
    assert result["msg"] == ("Sent 2 test emails to %s; the receiving server deferred 1 of them (see the warning)"
                             % RECIPIENT)
    assert result["queued"] == [{"queue_id": "G7", "queue_name": "deferred"}]


def test_relay_wait_fails_when_the_queue_cannot_be_read(run_module, tmp_path, monkeypatch):
    result = relay_run(run_module, tmp_path, monkeypatch, broken=True, relay_wait=1)
    assert result["failed"] is True
    assert result["cause"] == "relay_deferred" and result["queued"] == []
    assert result["msg"].startswith("postqueue -j failed (rc 1): postqueue: fatal: Queue report unavailable")


def test_without_relay_wait_the_queue_is_not_read(run_module, tmp_path, monkeypatch):
    result = relay_run(run_module, tmp_path, monkeypatch, broken=True, relay_wait=0)
    assert result.get("failed") is not True, result


def test_empty_recipients_are_refused(run_module, tmp_path):
    _, result = run_module("aloha_send_test_email", dict(deploy_path=str(tmp_path), recipients=["", ""]))
    assert result["failed"] is True
    assert result["msg"] == "recipients is empty: give at least one address"


def test_neither_root_nor_the_aloha_user_cannot_run_it(tmp_path, fake_aloha, monkeypatch):
    # In this process whatever the mode: the module must see a non-root euid.
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    _, result = conftest.run_module_inprocess(tmp_path, "aloha_send_test_email",
                                              dict(deploy_path=str(fake_aloha.deploy),
                                                   user="aloha-nobody", recipients=[RECIPIENT]))
    assert result["failed"] is True
    assert result["msg"] == "must run as root (become: true) or as aloha-nobody to run send_test_email"
    assert not (fake_aloha.deploy / "ran.json").exists()


def test_module_masks_the_auth_blob_a_server_echoes(run_module, fake_aloha, smtp_server):
    # A 535 that quotes the AUTH PLAIN argument: only the module's scrub,
    # which knows the secrets, masks it (no_log hides the plain value only).
    port, _ = smtp_server(accounts={USER: GOOD}, echo_auth=True, mechanisms=("PLAIN",))
    fake_aloha.configure(port=port, user=USER, password=PASSWORD)
    # As the role calls it: the passwords as secrets, the user as login_user.
    proc, result = run_module("aloha_send_test_email",
                              module_args(fake_aloha, login_user=USER, secrets=["{{ pw }}"]),
                              secrets={"pw": PASSWORD})
    assert result["cause"] == "auth_refused"
    assert "Authentication credentials invalid: ********" in result["msg"]
    for form in leaked_forms(USER, PASSWORD):
        if form != USER:
            assert form not in proc.stdout + json.dumps(result)


def test_module_counts_what_aloha_says_it_sent(run_module, tmp_path):
    deploy = scripted_deploy(tmp_path, "print('Successfully sent 1 email to %s!')" % RECIPIENT)
    _, result = run_module("aloha_send_test_email", dict(deploy_path=str(deploy), user=CURRENT_USER,
                                                         recipients=[RECIPIENT]))
    assert result["msg"] == "Sent 1 test emails to %s" % RECIPIENT
