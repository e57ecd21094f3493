"""aloha_send_test_email beyond SMTP: the file backend's check, postfix's
queue in local mode (relay_wait, deferred) and the result the module
builds, each against a stand-in manage.py (and a stand-in postqueue) so no
SMTP server is needed. Written for issue 13: each test kills mutants that
the SMTP tests of test_aloha_send_test_email.py let survive."""

from __future__ import annotations

import base64
import json
import os
import sys

import pytest

import aloha_send_test_email as mod
from test_aloha_send_test_email import CURRENT_USER, GREYLISTED, ScriptedQueue, queue_line

RECIPIENT = "ops@aloha.test"
ADMIN_SUBJECT, NOREPLY_SUBJECT = "Aloha email test", "Aloha noreply email test"
AUTH_REASON = "SASL authentication failed; server smtp.aloha.test[10.88.0.5] said: 535 5.7.8 Error: authentication failed"


def email_file(subject, newline="\n"):
    """A message as Django's file backend writes it (one .log per email)."""
    return newline.join(["Content-Type: text/plain", "Subject: %s" % subject, "From: x@aloha.test", "",
                         "This is a test email.", "-" * 79, ""])


# --- the file backend ---------------------------------------------------------

def test_written_files_are_the_log_files_only(tmp_path):
    (tmp_path / "20261130-1.log").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    assert mod.written_files(str(tmp_path)) == {"20261130-1.log"}
    assert mod.written_files(str(tmp_path / "missing")) == set()


def test_missing_subjects_reads_every_file_each_with_one_email(tmp_path):
    # Django writes one file per email: both subjects found across two files.
    (tmp_path / "a.log").write_text(email_file(ADMIN_SUBJECT))
    (tmp_path / "b.log").write_text(email_file(NOREPLY_SUBJECT))
    assert mod.missing_subjects(str(tmp_path), {"a.log", "b.log"}) == []
    assert mod.missing_subjects(str(tmp_path), {"a.log"}) == [NOREPLY_SUBJECT]
    assert mod.missing_subjects(str(tmp_path), {"b.log"}) == [ADMIN_SUBJECT]
    assert mod.missing_subjects(str(tmp_path), set()) == [ADMIN_SUBJECT, NOREPLY_SUBJECT]


def test_missing_subjects_accepts_crlf_and_non_utf8_bytes(tmp_path):
    # Messages may have CRLF line ends (text mode reads them as LF) and 8-bit
    # bodies in another charset.
    (tmp_path / "a.log").write_bytes(email_file(ADMIN_SUBJECT, "\r\n").encode() + b"caf\xe9\r\n")
    (tmp_path / "b.log").write_bytes(email_file(NOREPLY_SUBJECT, "\r\n").encode())
    assert mod.missing_subjects(str(tmp_path), {"a.log", "b.log"}) == []


def test_missing_subjects_wants_the_whole_subject_line(tmp_path):
    (tmp_path / "a.log").write_text("Subject: Aloha email test (resent)\nSubject: %s\n" % NOREPLY_SUBJECT)
    assert mod.missing_subjects(str(tmp_path), {"a.log"}) == [ADMIN_SUBJECT]


# --- postfix's queue ----------------------------------------------------------

def test_queued_test_emails_reads_past_a_non_json_line_and_counts_mail_of_the_second_since():
    out = "\n".join(["postqueue: warning: not JSON", queue_line("B2", 2000, RECIPIENT)])
    assert [e["queue_id"] for e in mod.queued_test_emails(out, [RECIPIENT], since=2000)] == ["B2"]


@pytest.mark.parametrize("cause, reason, fix", [
    ("relay_auth_refused", "host smtp.aloha.test[10.88.0.5] said: 535 5.7.8 Error: bad credentials",
     "the smarthost refused the login: check aloha_email_local_relay_user and the vault password "
     "aloha_email_local_relay_password"),
    ("relay_certificate_untrusted", "Server certificate not verified",
     "postfix does not trust the smarthost's certificate: give the CA that issued it as "
     "aloha_email_local_relay_ca_file, or set aloha_email_local_relay_host to the name the certificate is issued for"),
    ("relay_tls_mismatch", "TLS is required, but was not offered by host smtp.aloha.test[10.88.0.5]",
     "the smarthost's port speaks the other TLS flavour: use aloha_email_local_relay_port 587 for STARTTLS or "
     "465 for TLS from the first byte, as the provider says"),
    ("relay_unreachable", "Host or domain name not found. Name service error for name=smtp.aloha.test type=A: "
     "Host not found", "postfix cannot reach the smarthost: check aloha_email_local_relay_host and "
     "aloha_email_local_relay_port, and that the firewall lets this host connect out to that port"),
    ("port25_blocked", "connect to mx.example.net[10.88.0.5]:25: Connection timed out",
     "postfix delivers directly (no smarthost) and cannot connect to the recipient's mail server on port 25, "
     "which most hosting providers block: use a smarthost (aloha_email_local_relay_host, with "
     "aloha_email_local_relay_port, aloha_email_local_relay_user and aloha_email_local_relay_password), or "
     "have the provider open outgoing port 25"),
    ("deferred", GREYLISTED,
     "the receiving server deferred the mail with a temporary (4xx) reply, as greylisting does; postfix "
     "retries it (`postqueue -p` on the host shows it). Set aloha_email_local_deferred: warn to accept a "
     "deferral with a warning"),
    ("relay_deferred", "delivery temporarily suspended",
     "postfix could not pass the mail on yet: see its reason above and `postqueue -p` on the host"),
])
def test_relay_failure_fix_is_the_whole_sentence(cause, reason, fix):
    # The fix is what the operator reads: whole, not just the variable names.
    # The reasons are the ones only one pattern words (a bare 535, a
    # name-service failure).
    assert mod.relay_failure([reason], smarthost="") == (cause, fix)


def test_deferred_by_server_only_when_every_recipient_of_every_entry_waits_in_deferred():
    greylisted = json.loads(queue_line("G7", 2000, RECIPIENT, GREYLISTED))
    assert mod.deferred_by_server([greylisted], smarthost="") is True
    # Being retried now (active): the retry may go through.
    active = dict(greylisted, queue_name="active")
    assert mod.deferred_by_server([greylisted, active], smarthost="") is False
    # One recipient of the message not yet answered by its server.
    partial = dict(greylisted, recipients=greylisted["recipients"] + [{"address": "b@aloha.test"}])
    assert mod.deferred_by_server([partial], smarthost="") is False
    assert mod.deferred_by_server([], smarthost="") is False


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(mod.time, "sleep", lambda seconds: None)


def fake_clock(monkeypatch, *ticks):
    """time.monotonic returns TICKS, then keeps counting up by 10."""
    values = iter(list(ticks) + list(range(ticks[-1] + 10, 10 ** 6, 10)))
    monkeypatch.setattr(mod.time, "monotonic", lambda: next(values))


def test_wait_for_relay_keeps_the_reason_of_a_test_email_being_retried(monkeypatch, no_sleep):
    # The second look finds the mail active (being retried, no reason shown):
    # the message still gives the reason seen before.
    fake_clock(monkeypatch, 0, 0, 30)
    queue = ScriptedQueue([queue_line("D4", 2000, RECIPIENT, AUTH_REASON), queue_line("D4", 2000, RECIPIENT)])
    msg, cause, _, entries = mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=30, secrets=[])
    assert cause == "relay_auth_refused"
    assert AUTH_REASON in msg
    assert entries == [{"queue_id": "D4", "queue_name": "active"}]


def test_wait_for_relay_gives_up_at_the_deadline_itself(monkeypatch, no_sleep):
    # The clock reads exactly the deadline at the first look: no retry, no
    # second look.
    fake_clock(monkeypatch, 0, 30)
    queue = ScriptedQueue([queue_line("D4", 2000, RECIPIENT, AUTH_REASON)])
    assert mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=30, secrets=[]) is not None
    assert queue.calls == [["postqueue", "-j"]]


def test_wait_for_relay_looks_again_soon_then_every_3_seconds(monkeypatch):
    # The test emails leave at the sixth look: the waits before it start at
    # half a second and double, up to 3 s.
    sleeps = []
    monkeypatch.setattr(mod.time, "sleep", sleeps.append)
    stuck = queue_line("D4", 2000, RECIPIENT, AUTH_REASON)
    queue = ScriptedQueue([stuck] * 5 + [""])
    assert mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=600, secrets=[]) is None
    assert sleeps == [0.5, 1, 2, 3, 3]
    assert queue.calls.count(["postqueue", "-j"]) == 6


def test_wait_for_relay_postqueue_failing_is_reported_scrubbed():
    class Broken(ScriptedQueue):
        def run_command(self, argv):
            self.calls.append(argv)
            return 1, "", "postqueue: fatal: s3cret queue file read error\n"

    stuck = mod.wait_for_relay(Broken(["x"]), [RECIPIENT], since=0, timeout=30, secrets=["s3cret"])
    assert stuck == ("postqueue -j failed (rc 1): postqueue: fatal: ******** queue file read error",
                     "relay_deferred", "check that postfix runs on this host", [])


def test_wait_for_relay_looks_for_postqueue_by_its_name():
    class OnlyPostqueue(ScriptedQueue):
        def get_bin_path(self, name):
            return "/usr/sbin/postqueue" if name == "postqueue" else None

    queue = OnlyPostqueue([queue_line("D4", 2000, RECIPIENT, AUTH_REASON)])
    assert mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=0, secrets=[]) is not None


def test_wait_for_relay_fail_message_in_full_with_two_emails_and_reasons(monkeypatch, no_sleep):
    # The reasons come sorted, joined by "; ".
    other = "connect to smtp.aloha.test[10.88.0.5]:587: Connection refused"
    queue = ScriptedQueue(["\n".join([queue_line("D4", 2000, RECIPIENT, AUTH_REASON),
                                      queue_line("D5", 2000, RECIPIENT, other)])])
    msg, cause, fix, entries = mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=0, secrets=[])
    assert cause == "relay_auth_refused"
    assert msg == ("send_test_email handed 2 test emails to postfix, but after 0 s they are still in its queue "
                   "(relay_auth_refused; queue id D4, D5): %s; %s. Fix: %s" % (AUTH_REASON, other, fix))
    assert [e["queue_id"] for e in entries] == ["D4", "D5"]


def test_wait_for_relay_without_any_reason_says_so(monkeypatch, no_sleep):
    queue = ScriptedQueue([queue_line("A1", 2000, RECIPIENT)])
    msg, cause, fix, _ = mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=0, secrets=[])
    assert cause == "relay_deferred"
    assert msg.endswith("(relay_deferred; queue id A1): no reason given yet. Fix: %s" % fix)


def test_wait_for_relay_warn_message_in_full(monkeypatch, no_sleep):
    later = GREYLISTED.replace("450 4.7.1", "451 4.7.1")
    queue = ScriptedQueue(["\n".join([queue_line("G7", 2000, RECIPIENT, GREYLISTED),
                                      queue_line("G8", 2000, RECIPIENT, later)])])
    msg, cause, _, _ = mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=3600, secrets=[],
                                          smarthost="", deferred="warn")
    assert cause == "deferred"
    assert msg == ("the receiving server deferred 2 test emails (postfix queue id G7, G8): %s; %s. postfix "
                   "retries them; `postqueue -p` on the host shows them until they leave" % (GREYLISTED, later))


def test_wait_for_relay_warn_waits_out_a_failure_that_is_no_deferral(monkeypatch, no_sleep):
    # warn returns early only for a server's 4xx; a refused smarthost login
    # is retried until the deadline.
    fake_clock(monkeypatch, 0, 10)
    queue = ScriptedQueue([queue_line("D4", 2000, RECIPIENT, AUTH_REASON)])
    _, cause, _, _ = mod.wait_for_relay(queue, [RECIPIENT], since=1999, timeout=30, secrets=[],
                                        smarthost="smtp.aloha.test", deferred="warn")
    assert cause == "relay_auth_refused"
    assert ["postqueue", "-i", "D4"] in queue.calls


# --- the module, with a stand-in manage.py (and postqueue) --------------------

STAND_IN = r'''#!{python}
"""Stand-in for Aloha's manage.py: does what stand-in.json next to it says."""
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "stand-in.json")) as handle:
    cfg = json.load(handle)
for name, text in cfg.get("files", {{}}).items():
    with open(os.path.join(cfg["file_dir"], name), "w", newline="") as handle:
        handle.write(text)
if cfg.get("queue"):
    # The mail arrives in postfix's queue now, as the real command's would.
    with open(cfg["queue_file"], "w") as handle:
        for entry in cfg["queue"]:
            handle.write(json.dumps(dict(entry, arrival_time=int(time.time()))) + "\n")
sys.stdout.write(cfg.get("stdout", ""))
sys.stderr.write(cfg.get("stderr", ""))
sys.exit(cfg.get("rc", 0))
'''

POSTQUEUE = r'''#!{python}
"""Stand-in for postfix's postqueue: -j prints the queue file, every call is logged."""
import sys
with open({calls!r}, "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\n")
if {fail!r}:
    sys.stderr.write({fail!r})
    sys.exit(1)
if sys.argv[1:] == ["-j"]:
    with open({queue!r}) as handle:
        sys.stdout.write(handle.read())
'''


class StandIn:
    """A deployment whose manage.py prints, writes and exits as told, and a
    postqueue on PATH."""

    def __init__(self, root, monkeypatch):
        self.deploy = root / "deploy"
        self.mail = root / "mail"
        self.bin = root / "bin"
        for directory in (self.deploy, self.mail, self.bin):
            directory.mkdir()
        self.queue_file = root / "queue.jsonl"
        self.queue_file.write_text("")
        self.calls_file = root / "postqueue-calls"
        manage = self.deploy / "manage.py"
        manage.write_text(STAND_IN.format(python=sys.executable))
        manage.chmod(0o755)
        self.postqueue()
        monkeypatch.setenv("PATH", "%s:%s" % (self.bin, os.environ["PATH"]))

    def postqueue(self, fail=""):
        script = self.bin / "postqueue"
        script.write_text(POSTQUEUE.format(python=sys.executable, calls=str(self.calls_file),
                                           queue=str(self.queue_file), fail=fail))
        script.chmod(0o755)

    def behave(self, **cfg):
        cfg.setdefault("stdout", "Successfully sent 1 email to %s!\n" % RECIPIENT)
        cfg.update(file_dir=str(self.mail), queue_file=str(self.queue_file))
        (self.deploy / "stand-in.json").write_text(json.dumps(cfg))

    def args(self, **extra):
        return dict(dict(deploy_path=str(self.deploy), user=CURRENT_USER, recipients=[RECIPIENT]), **extra)

    def postqueue_calls(self):
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    return StandIn(tmp_path, monkeypatch)


def send(run_module, stand_in, **extra):
    return run_module("aloha_send_test_email", stand_in.args(**extra))[1]


def test_module_success_result(run_module, stand_in):
    # The count is the one the command printed, not an assumed 2.
    stand_in.behave(stderr="a warning\n")
    result = send(run_module, stand_in, recipients=[RECIPIENT, "", "b@aloha.test"])
    assert result.get("failed") is None and result["changed"] is False
    assert result["msg"] == "Sent 1 test emails to ops@aloha.test, b@aloha.test"
    assert result["rc"] == 0
    assert result["cmd"] == [str(stand_in.deploy / "manage.py"), "send_test_email", RECIPIENT, "b@aloha.test"]
    assert result["stdout_lines"] == ["Successfully sent 1 email to ops@aloha.test!"]
    assert result["stderr_lines"] == ["a warning"]
    # relay_wait 0 (the default): postfix's queue is not looked at.
    assert stand_in.postqueue_calls() == []


def test_module_success_without_a_count_says_two(run_module, stand_in):
    stand_in.behave(stdout="done\n")
    assert send(run_module, stand_in)["msg"] == "Sent 2 test emails to ops@aloha.test"


def test_module_scrubs_base64_forms_and_keeps_the_login_user(run_module, stand_in):
    # Ansible masks the no_log secrets as given; their base64 forms are the
    # module's to scrub. The login user stays readable (a server names it).
    password, user = "Sup3r-secret", "mailer@aloha.test"
    stand_in.behave(stdout="pw %s user %s\nnot owned by user %s\n" % (
        base64.b64encode(password.encode()).decode(), base64.b64encode(user.encode()).decode(), user))
    result = send(run_module, stand_in, secrets=[password], login_user=user)
    assert result["stdout_lines"] == ["pw ******** user ********", "not owned by user mailer@aloha.test"]


def test_module_missing_manage_py_message(run_module, tmp_path):
    nowhere = tmp_path / "nowhere"
    _, result = run_module("aloha_send_test_email", dict(deploy_path=str(nowhere), user=CURRENT_USER,
                                                         recipients=[RECIPIENT]))
    assert result["msg"] == "%s/manage.py not found: is Aloha deployed at deploy_path %s?" % (nowhere, nowhere)


def test_module_file_backend_lists_the_new_files(run_module, stand_in):
    (stand_in.mail / "old.log").write_text(email_file(ADMIN_SUBJECT))
    stand_in.behave(files={"new-1.log": email_file(ADMIN_SUBJECT, "\r\n"),
                           "new-2.log": email_file(NOREPLY_SUBJECT)})
    result = send(run_module, stand_in, file_path=str(stand_in.mail))
    assert result.get("failed") is None, result
    assert result["files"] == [str(stand_in.mail / "new-1.log"), str(stand_in.mail / "new-2.log")]


def test_module_file_backend_ignores_files_from_before(run_module, stand_in):
    # The noreply email is only in an old file: this run did not write it.
    (stand_in.mail / "old.log").write_text(email_file(NOREPLY_SUBJECT))
    stand_in.behave(files={"new-1.log": email_file(ADMIN_SUBJECT)})
    result = send(run_module, stand_in, file_path=str(stand_in.mail))
    assert result["failed"] is True
    assert result["cause"] == "file_backend"
    assert result["fix"] == ("check that EMAIL_FILE_PATH (aloha_email_file_path) is writable by the Aloha user "
                             "and no other EMAIL_BACKEND overrides the section")
    assert result["msg"] == ("send_test_email ran, but %s has no new file with 'Aloha noreply email test'. "
                             "Fix: %s" % (stand_in.mail, result["fix"]))
    assert result["files"] == [str(stand_in.mail / "new-1.log")]


def test_module_file_backend_names_both_missing_subjects(run_module, stand_in):
    stand_in.behave()
    result = send(run_module, stand_in, file_path=str(stand_in.mail))
    assert "has no new file with 'Aloha email test' and 'Aloha noreply email test'. Fix: " in result["msg"]


def test_module_file_backend_not_checked_after_a_failure(run_module, stand_in):
    # The command's own failure is the cause, not the missing files.
    stand_in.behave(rc=1, stdout="", stderr="CommandError: Email sending failed!\n")
    result = send(run_module, stand_in, file_path=str(stand_in.mail))
    assert result["failed"] is True and result["cause"] != "file_backend"


def test_module_relay_wait_warns_of_a_greylisted_test_email(run_module, stand_in):
    stand_in.behave(queue=[json.loads(queue_line("G7", 0, RECIPIENT, GREYLISTED))])
    result = send(run_module, stand_in, relay_wait=1, smarthost="")
    assert result.get("failed") is None, result
    assert result["queued"] == [{"queue_id": "G7", "queue_name": "deferred"}]
    assert result["msg"] == ("Sent 1 test emails to ops@aloha.test; the receiving server deferred 1 of them "
                             "(see the warning)")
    # A string from the ansible command, a structured event in-process.
    assert "the receiving server deferred 1 test emails (postfix queue id G7)" in json.dumps(result["warnings"])
    assert stand_in.postqueue_calls() == ["-j"]


def test_module_relay_wait_fail_fails_on_a_greylisted_test_email(run_module, stand_in, monkeypatch):
    # deferred=fail and nothing left to wait (relay_wait 1 s, the clock past it).
    stand_in.behave(queue=[json.loads(queue_line("G7", 0, RECIPIENT, GREYLISTED))])
    monkeypatch.setattr(mod.time, "sleep", lambda seconds: None)
    result = send(run_module, stand_in, relay_wait=1, smarthost="", deferred="fail")
    assert result["failed"] is True and result["cause"] == "deferred"
    assert result["queued"] == [{"queue_id": "G7", "queue_name": "deferred"}]


def test_module_relay_wait_postqueue_failure_fails(run_module, stand_in):
    # Not a deferral: fails although deferred is warn (the default).
    stand_in.postqueue(fail="postqueue: fatal: Queue report unavailable - mail system is down\n")
    stand_in.behave()
    result = send(run_module, stand_in, relay_wait=5)
    assert result["failed"] is True
    assert result["cause"] == "relay_deferred" and result["fix"] == "check that postfix runs on this host"
    assert result["msg"] == ("postqueue -j failed (rc 1): postqueue: fatal: Queue report unavailable - mail "
                             "system is down")
    assert result["queued"] == []


def test_module_relay_wait_not_after_a_failed_send(run_module, stand_in):
    stand_in.behave(rc=1, stdout="", stderr="CommandError: Email sending failed!\n")
    result = send(run_module, stand_in, relay_wait=5)
    assert result["failed"] is True and stand_in.postqueue_calls() == []


def test_module_failure_message_words_the_milter_cause(run_module, stand_in):
    # local_milter reaches the classification: postfix's tempfail while
    # OpenDKIM is down is dkim_milter_unavailable, not sender_refused.
    stand_in.behave(rc=1, stdout="Failed to send mails: (451, b'4.7.1 Service unavailable - try again later', "
                                 "'admin@aloha.test')\n", stderr="CommandError: Email sending failed!\n")
    result = send(run_module, stand_in, local_milter=True)
    assert result["cause"] == "dkim_milter_unavailable", result
    assert result["msg"].startswith("send_test_email failed (dkim_milter_unavailable): Failed to send mails: "
                                    "(451, b'4.7.1 Service unavailable - try again later', 'admin@aloha.test'). Fix: ")
    assert result["msg"].endswith(result["fix"])
