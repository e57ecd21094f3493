"""aloha_email_smtp's readers of smtplib's and Django's output, on captured
texts: what send_test_email (or the preflight) prints when a real server
refuses, worded as postfix, Exim, Exchange, Microsoft 365, Gmail and
Amazon SES word it, each reduced to the part one reader relies on (the
error line alone, the traceback alone, the SMTP log alone), so that a
broken reader is not hidden by another one that finds the same answer.

The whole-run tests (test_aloha_send_test_email.py, test_sender_refused.py)
give every reader at once the output of our own test server."""

from __future__ import annotations

import smtplib
import socket

import pytest

from ansible.module_utils.aloha_email_smtp import (
    _sender_refusal,
    as_user,
    classify_failure,
    failure_summary,
    smtp_error_output,
)

ADMIN = "admin@aloha.test"
TOKENIZED = "noreply-abcdefghijklmnopqrstuvwx@aloha.test"
RECIPIENT = "ops@aloha.test"
FAILED = "Failed to send mails: "


def log(*exchanges):
    """An SMTP log as smtplib prints it at debuglevel 1: each (command,
    reply) as a send: line and the reply's two reply: lines; a reply of
    None is a command the server never answered."""
    lines = ["connect: to ('smtp.aloha.test', 587) None",
             "reply: b'220 smtp.aloha.test ESMTP'",
             "reply: retcode (220); Msg: b'smtp.aloha.test ESMTP'"]
    for command, reply in exchanges:
        lines.append("send: %r" % (command + "\r\n"))
        if reply is not None:
            lines.append("reply: %r" % (reply + "\r\n").encode())
            lines.append("reply: retcode (%s); Msg: %r" % (reply[:3], reply[4:].encode()))
    return "\n".join(lines) + "\n"


def fix_for(output, cause, **kwargs):
    """The fix classify_failure gives output, once its cause is the one
    expected."""
    got, fix = classify_failure(output, **kwargs)
    assert got == cause, (got, output)
    return fix


def mail_from(sender, reply="250 2.1.0 Ok"):
    return ("mail FROM:<%s> size=420" % sender, reply)


def rcpt_to(recipient=RECIPIENT, reply="250 2.1.5 Ok"):
    return ("rcpt TO:<%s>" % recipient, reply)


# --- a sender refused at MAIL FROM: smtplib's SMTPSenderRefused -------------

def test_the_error_line_alone_names_the_refused_sender():
    # Django prints str(SMTPSenderRefused): (code, reply, sender). Amazon
    # SES refuses a sender it cannot parse with 501 at MAIL FROM.
    output = FAILED + "(501, b'Invalid MAIL FROM address provided', '%s')\n" % TOKENIZED
    fix = fix_for(output, "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


def test_a_530_in_the_error_line_alone_is_a_missing_login():
    # Microsoft 365 (and Gmail) refuse MAIL FROM without a login: 530.
    output = FAILED + ("(530, b'5.7.57 Client not authenticated to send mail. "
                       "[AM0PR01CA0001.eurprd01.prod.exchangelabs.com]', '%s')\n" % ADMIN)
    fix = fix_for(output, "auth_refused")
    assert "did not log in" in fix


def test_the_traceback_alone_names_the_refused_sender():
    # An uncaught SMTPSenderRefused: only the traceback's last line.
    output = ("Traceback (most recent call last):\n"
              "  File \"manage.py\", line 22, in <module>\n"
              "smtplib.SMTPSenderRefused: (553, b'5.7.1 Sender address rejected', '%s')\n"
              % TOKENIZED)
    fix = fix_for(output, "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


def test_a_refused_sender_whose_address_cannot_be_read_is_still_a_sender_refusal():
    # An address with a quote makes Python print the tuple in double
    # quotes: the address is not read, the cause still is.
    sender = "o'brien@aloha.test"
    output = ("Traceback (most recent call last):\n"
              "smtplib.SMTPSenderRefused: (550, b\"5.7.1 Sender address not allowed: %s\", \"%s\")\n"
              % (sender, sender))
    fix = fix_for(output, "sender_refused")
    assert "refused the sender address:" in fix


# --- the SMTP log alone: the reply that followed MAIL FROM / RCPT TO --------

def test_the_log_alone_names_the_last_sender_refused():
    # The first email went out; the second session's MAIL FROM was refused.
    output = log(mail_from(ADMIN), rcpt_to(), ("data", "354 go"),
                 mail_from(TOKENIZED, "501 5.1.7 Bad sender address syntax"))
    fix = fix_for(output, "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


def test_the_log_alone_reads_a_530_after_mail_from_as_a_missing_login():
    output = log(mail_from(ADMIN, "530 5.7.0 Authentication required"))
    assert classify_failure(output)[0] == "auth_refused"


def test_the_log_alone_names_the_refused_recipient():
    # postfix's reply to a recipient it cannot parse.
    output = log(mail_from(ADMIN), rcpt_to("ops@aloha", "501 5.1.3 Bad recipient address syntax"))
    fix = fix_for(output, "recipient_refused")
    assert "refused the recipient ops@aloha:" in fix


def test_the_log_alone_reads_the_retcode_line_when_the_raw_reply_is_missing():
    # The "reply: retcode (NNN)" line is read when no raw reply line is.
    output = log(mail_from(ADMIN), rcpt_to(reply=None)) + "reply: retcode (550); Msg: b'5.1.1 unknown'\n"
    fix = fix_for(output, "recipient_refused")
    assert RECIPIENT in fix


def test_accepted_commands_followed_by_a_hang_up_are_no_refusal():
    # MAIL FROM and RCPT TO got 250; the server closed during DATA.
    output = (FAILED + "Connection unexpectedly closed\n\nFull SMTP log follows:\n"
              + log(mail_from(ADMIN), rcpt_to(), ("data", "354 go")))
    assert classify_failure(output)[0] == "disconnected"


@pytest.mark.parametrize("exchanges", [[mail_from(ADMIN, None)], [mail_from(ADMIN), rcpt_to(reply=None)]],
                         ids=["mail-from", "rcpt-to"])
def test_a_command_never_answered_is_no_refusal(exchanges):
    # The server stopped answering: the timeout is the cause.
    output = log(*exchanges) + "TimeoutError: timed out\n"
    assert classify_failure(output, port=587)[0] == "port_blocked"


def test_no_command_in_the_log_is_no_refusal():
    output = log() + "ConnectionRefusedError: [Errno 111] Connection refused\n"
    assert classify_failure(output)[0] == "connection_refused"


# --- a sender refused at RCPT TO or after DATA, by its wording ----------------

# Each server's reply, as Django prints the SMTPRecipientsRefused (RCPT TO)
# or SMTPDataError (end of DATA) that carries it; no SMTP log follows, so
# the address comes from the wording or not at all.
LATE = {
    # postfix, reject_unknown_sender_domain: no "not owned by user".
    "postfix-domain-not-found": "{'ops@aloha.test': (450, b'4.1.8 <%s>: Sender address "
                                "rejected: Domain not found')}" % TOKENIZED,
    "postfix-not-owned": "{'ops@aloha.test': (553, b'5.7.1 <%s>: Sender address rejected: "
                         "not owned by user aloha@aloha.test')}" % TOKENIZED,
    "exim": "{'ops@aloha.test': (550, b'Verification failed for <%s>\\nUnrouteable "
            "address\\nSender verify failed')}" % TOKENIZED,
}


@pytest.mark.parametrize("line", LATE.values(), ids=LATE.keys())
def test_a_late_refusal_names_the_sender_from_the_wording(line):
    fix = fix_for(FAILED + line + "\n", "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


def test_a_late_refusal_keeps_the_servers_code():
    # (code, address): the code decides a missing login (530) from a refusal.
    assert _sender_refusal(FAILED + LATE["postfix-not-owned"] + "\n") == ("553", TOKENIZED)


# Replies that name no address: the last MAIL FROM of the log is the sender.
UNNAMED = {
    # Exchange Server (on premises) at the end of DATA: 5.7.1, no 5.7.60.
    "exchange": "(550, b'5.7.1 Client does not have permissions to send as this sender')",
    "m365": "(550, b'5.7.60 SMTP; Client does not have permissions to send as this sender')",
    "m365-sendasdenied": "(554, b'5.2.252 SendAsDenied; STOREDRV.Submission.Exception:"
                         "SendAsDeniedException.MapiExceptionSendAsDenied')",
    "not-authorized": "(553, b'5.7.1 Sender is not authorized to send from this domain')",
}


@pytest.mark.parametrize("line", UNNAMED.values(), ids=UNNAMED.keys())
def test_a_late_refusal_without_an_address_names_the_sessions_sender(line):
    # Aloha's first email (from the administrator) is the one refused.
    output = (FAILED + line + "\n\nFull SMTP log follows:\n"
              + log(mail_from(ADMIN), rcpt_to(), ("data", "354 go")))
    fix = fix_for(output, "sender_refused")
    assert "refused the sender %s:" % ADMIN in fix


def test_a_late_refusal_after_three_sessions_names_the_last_sender():
    output = (FAILED + UNNAMED["m365"] + "\n\nFull SMTP log follows:\n"
              + log(mail_from(ADMIN), rcpt_to(), mail_from("second@aloha.test"), rcpt_to(),
                    mail_from(TOKENIZED), rcpt_to(), ("data", "354 go")))
    fix = fix_for(output, "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


def test_a_late_refusal_with_no_log_is_still_a_sender_refusal():
    fix = fix_for(FAILED + UNNAMED["m365"] + "\n", "sender_refused")
    assert "refused the sender address:" in fix


# --- recipients --------------------------------------------------------------

def test_the_error_line_alone_names_the_refused_recipient():
    # Gmail's reply for a mailbox that does not exist.
    output = FAILED + ("{'nobody@aloha.test': (550, b'5.1.1 The email account that you "
                       "tried to reach does not exist.')}\n")
    fix = fix_for(output, "recipient_refused")
    assert "refused the recipient nobody@aloha.test:" in fix


def test_the_traceback_alone_names_every_refused_recipient():
    output = ("Traceback (most recent call last):\n"
              "smtplib.SMTPRecipientsRefused: {'ops@aloha.test': (550, b'5.1.1 User unknown'), "
              "'second@aloha.test': (550, b'5.1.1 User unknown')}\n")
    fix = fix_for(output, "recipient_refused")
    assert "refused the recipient ops@aloha.test, second@aloha.test:" in fix


def test_a_recipients_refusal_without_readable_addresses_says_so():
    # The exception's name alone (its text cut off): "?" for the address.
    output = "Traceback (most recent call last):\nsmtplib.SMTPRecipientsRefused\n"
    fix = fix_for(output, "recipient_refused")
    assert "refused the recipient ?:" in fix


# --- failure_summary ----------------------------------------------------------

def test_summary_of_a_chained_traceback_is_the_last_exception():
    output = ("Traceback (most recent call last):\n"
              "socket.gaierror: [Errno -3] Temporary failure in name resolution\n\n"
              "During handling of the above exception, another exception occurred:\n\n"
              "Traceback (most recent call last):\n"
              "OSError: [Errno 101] Network is unreachable\n\n"
              "The above exception was the direct cause of the following exception:\n\n"
              "Traceback (most recent call last):\n"
              "smtplib.SMTPServerDisconnected: please run connect() first\n")
    assert failure_summary(output) == "smtplib.SMTPServerDisconnected: please run connect() first"


def test_summary_skips_text_after_the_exception():
    # A line printed after the traceback is not the error.
    output = ("Traceback (most recent call last):\n"
              "  File \"/usr/lib/python3.11/socket.py\", line 851, in create_connection\n"
              "TimeoutError: timed out\n"
              "Sentry is attempting to send 1 pending events\n")
    assert failure_summary(output) == "TimeoutError: timed out"


@pytest.mark.parametrize("line", [
    "smtplib.SMTPRecipientsRefused: {}",
    "smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
    "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
    "django.core.management.base.CommandError: Email sending failed!",
])
def test_summary_knows_each_kind_of_exception_line(line):
    assert failure_summary(line + "\nPlease see the log.\n") == line


def test_summary_is_cut_at_300_characters():
    long_reply = "x" * 400
    assert len(failure_summary(FAILED + long_reply)) == 300
    assert len(failure_summary("Traceback:\nOSError: " + long_reply)) == 300
    assert len(failure_summary("Outgoing email not yet configured " + long_reply)) == 300
    assert len(failure_summary(long_reply)) == 300


def test_summary_of_nothing():
    assert failure_summary("") == "no output"
    assert failure_summary(None) == "no output"


# --- smtp_error_output: the preflight's stand-in for Aloha's output -----------

def test_smtp_error_output_without_a_log():
    error = smtplib.SMTPSenderRefused(550, b"5.7.1 no", ADMIN)
    assert smtp_error_output(error) == (
        FAILED + "(550, b'5.7.1 no', '%s')\n\nFull SMTP log follows:\n" % ADMIN)
    assert smtp_error_output(error, "send: 'rset'\n").endswith("Full SMTP log follows:\nsend: 'rset'\n")


def test_smtp_error_output_of_another_error_is_its_traceback_or_its_name():
    error = ConnectionRefusedError(111, "Connection refused")
    assert smtp_error_output(error, "connect: to x\n", "Traceback...\nConnectionRefusedError: x") == (
        "connect: to x\n\nTraceback...\nConnectionRefusedError: x")
    assert smtp_error_output(error) == "\nConnectionRefusedError: [Errno 111] Connection refused"
    assert smtp_error_output(socket.timeout("timed out"), None) == "\nTimeoutError: timed out"


# --- as_user ------------------------------------------------------------------

def test_as_user_looks_up_who_we_are(monkeypatch):
    # Without euid and current_user: the process's own, from the system.
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert as_user(["id"], "root") == ["id"]
    assert as_user(["id"], "aloha") == ["runuser", "-u", "aloha", "--", "id"]


def test_as_user_takes_the_given_user_over_the_lookup():
    assert as_user(["id"], "aloha", euid=0, current_user="aloha") == ["id"]


# --- each cause from each of its wordings ------------------------------------

# One wording a case, alone: a cause recognised by two wordings must be
# recognised by each. Where CPython prints the error's text without its
# class (str(error) in a log line), the text alone counts too.
WORDINGS = [
    ("tls_and_ssl", "ValueError: EMAIL_USE_TLS and EMAIL_USE_SSL may not both be set",
     dict(use_tls=True, use_ssl=True)),
    ("unknown", "ValueError: invalid literal for int() with base 10: 'x'", dict(use_tls=True)),
    # A broken settings.py line that names EMAIL_USE_SSL is not the TLS/SSL clash.
    ("unknown", "  File \"/etc/aloha/settings.py\", line 41\n    EMAIL_USE_SSL = True,,\n"
                "SyntaxError: invalid syntax", {}),
    ("auth_refused", "smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted.')",
     {}),
    # Gmail wants an app password: 534 at AUTH, the error line alone.
    ("auth_refused", FAILED + "(534, b'5.7.9 Application-specific password required.')", {}),
    # The log alone: AUTH answered 535.
    ("auth_refused", log(("AUTH PLAIN", "535 5.7.8 Error: authentication failed")), {}),
    # A server that asks for a login with another code than 530.
    ("auth_refused", FAILED + "(550, b'5.7.0 Authentication required', '%s')" % ADMIN, {}),
    ("certificate_untrusted", "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] (_ssl.c:1006)",
     {}),
    ("certificate_untrusted", "ssl.SSLCertVerificationError: certificate verify failed: self-signed", {}),
    # OpenSSL 1.1's wording of TLS spoken to a plain port.
    ("ssl_on_starttls_port", "ssl.SSLError: [SSL: UNKNOWN_PROTOCOL] unknown protocol (_ssl.c:997)", {}),
    # A failed handshake on the right port is no wrong-port case.
    ("unknown", "ssl.SSLError: [SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure", {}),
    ("connection_refused", "OSError: [Errno 113] No route to host", {}),
    ("connection_refused", "[Errno 111] Connection refused", {}),
    ("host_not_found", "socket.gaierror: [Errno -9] Address family for hostname not supported", {}),
    ("host_not_found", "[Errno -5] No address associated with hostname", {}),
    ("disconnected", "smtplib.SMTPServerDisconnected: please run connect() first", {}),
]


@pytest.mark.parametrize("cause, output, kwargs", WORDINGS)
def test_each_wording_alone_gives_its_cause(cause, output, kwargs):
    assert classify_failure(output + "\n", **kwargs)[0] == cause


def test_summary_of_the_not_configured_error_is_its_first_line():
    output = "Outgoing email not yet configured, see\n  https://aloha.example/production/email.html\n"
    assert failure_summary(output) == "Outgoing email not yet configured, see"


# --- the fix, word for word -----------------------------------------------------

# The fix is what the operator reads and follows: each cause's text,
# with the port as configured (or the variable when none is), in full.
FIXES = {
    "dkim_milter_unavailable": (
        FAILED + "{'ops@aloha.test': (451, b'4.7.1 Service unavailable - try again later')}",
        dict(local_milter=True),
        "postfix on this host could not reach OpenDKIM, which signs the mail, and refused it as "
        "aloha_email_local_milter_default_action says: check `systemctl status opendkim` and its socket "
        "/var/spool/postfix/opendkim/opendkim.sock (`systemctl restart opendkim` makes it again); "
        "aloha_email_local_milter_default_action: accept would send unsigned mail instead."),
    "not_configured": (
        "CommandError: Outgoing email not yet configured, see", {},
        "Aloha has no EMAIL_HOST: set aloha_email_host (and aloha_email_port, aloha_email_host_user) so "
        "that /etc/aloha/settings.py configures outgoing email."),
    "tls_and_ssl": (
        "ValueError: EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive", {},
        "aloha_email_use_tls and aloha_email_use_ssl are both true; Django allows only one: use "
        "aloha_email_use_ssl: true with aloha_email_port: 465, or aloha_email_use_tls: true with "
        "aloha_email_port: 587."),
    "non_ascii_password": (
        "UnicodeEncodeError: 'ascii' codec can't encode character '\\xe4'", {},
        "aloha_email_password (or aloha_email_host_user) contains a non-ASCII character; Aloha's SMTP "
        "client sends the login as ASCII, so it can never authenticate. Choose an ASCII-only password at "
        "the SMTP provider and store it in the vault as aloha_email_password."),
    "auth_refused (no login)": (
        FAILED + "(530, b'5.7.0 Authentication required', '%s')" % ADMIN, {},
        "the SMTP server requires a login but Aloha did not log in: set aloha_email_host_user and "
        "aloha_email_password (the password lives in /etc/aloha/aloha-secrets.conf as email_password)."),
    "auth_refused (wrong login)": (
        FAILED + "(535, b'5.7.8 Authentication credentials invalid')", {},
        "the SMTP server refused the login: check aloha_email_host_user and the vault password "
        "aloha_email_password for typos; the password lives in /etc/aloha/aloha-secrets.conf as "
        "email_password."),
    "sender_refused (tokenized)": (
        FAILED + "(501, b'Invalid MAIL FROM address provided', '%s')" % TOKENIZED, {},
        "the SMTP provider refused the tokenized sender %s: Aloha sends confirmation emails from random "
        "noreply-<token>@ addresses. Allow the tokenized sender (noreply-*@ your domain) at the provider, "
        "or turn the tokens off in Aloha: ADD_TOKENS_TO_NOREPLY_ADDRESS = False in /etc/aloha/settings.py, "
        "which the role writes with aloha_email_add_tokens_to_noreply_address: false, so they come from "
        "the fixed noreply address. Turning tokens off is generally safe unless you use the feature "
        "letting anyone with an email address in a certain domain create an account: the tokens protect "
        "against the helpdesk-software attack." % TOKENIZED),
    "sender_refused (fixed)": (
        FAILED + "(501, b'Invalid MAIL FROM address provided', '%s')" % ADMIN, {},
        "the SMTP provider refused the sender %s: allow this From address at your SMTP provider (Aloha "
        "sends from aloha_ADMINISTRATOR and NOREPLY_EMAIL_ADDRESS; the role sets the latter with "
        "aloha_email_noreply_address)." % ADMIN),
    "recipient_refused": (
        FAILED + "{'%s': (550, b'5.1.1 User unknown')}" % RECIPIENT, {},
        "the SMTP server refused the recipient %s: check the test recipient address "
        "(aloha_email_test_recipient) and that the provider lets aloha_email_host_user send to them."
        % RECIPIENT),
    "starttls_on_ssl_port": (
        FAILED + "Connection unexpectedly closed: timed out", dict(port=465, use_tls=True),
        "no SMTP greeting within the timeout on port 465: STARTTLS (or plain SMTP) was spoken to a port "
        "that wants TLS from the first byte, such as 465. Set aloha_email_port: 465 with "
        "aloha_email_use_ssl: true and aloha_email_use_tls: false (EMAIL_USE_SSL), or use port 587 with "
        "TLS (aloha_email_use_tls: true)."),
    "certificate_untrusted": (
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", {},
        "the SMTP server's certificate is not trusted by the Aloha host (Aloha verifies it against the "
        "system CA store): set aloha_email_host to the name the certificate is issued for, or install "
        "the issuing CA on the Aloha host (/usr/local/share/ca-certificates, update-ca-certificates)."),
    "ssl_on_starttls_port": (
        "ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number", dict(port=587, use_ssl=True),
        "TLS from the first byte (EMAIL_USE_SSL) was spoken to port 587, which talks plain SMTP and "
        "upgrades with STARTTLS. Set aloha_email_use_ssl: false and aloha_email_use_tls: true for port "
        "587, or set aloha_email_port: 465 if the provider offers SSL there."),
    "connection_refused": (
        "ConnectionRefusedError: [Errno 111] Connection refused", dict(port=2525),
        "nothing accepts connections on port 2525 of aloha_email_host, or a firewall rejects them: "
        "check aloha_email_host and aloha_email_port (587 for STARTTLS, 465 for SSL)."),
    "host_not_found": (
        "socket.gaierror: [Errno -2] Name or service not known", {},
        "the Aloha host cannot resolve the SMTP server name: check aloha_email_host for typos and the "
        "host's DNS."),
    "port_blocked": (
        "TimeoutError: timed out", {},
        "connecting to aloha_email_host on EMAIL_PORT (aloha_email_port) timed out: your hosting "
        "provider may block outgoing SMTP on EMAIL_PORT (aloha_email_port); check its firewall, or use "
        "another port the SMTP provider offers (aloha_email_port: 587 or 465)."),
    "starttls_not_offered": (
        FAILED + "STARTTLS extension not supported by server.", dict(port=25, use_tls=True),
        "the SMTP server on port 25 does not offer STARTTLS, so Aloha (aloha_email_use_tls: true) "
        "cannot encrypt the session: use the provider's submission port (aloha_email_port: 587 with "
        "aloha_email_use_tls: true, or 465 with aloha_email_use_ssl: true and aloha_email_use_tls: "
        "false)."),
    "auth_not_offered": (
        FAILED + "SMTP AUTH extension not supported by server.", dict(port=25),
        "the SMTP server on port 25 offers no login on this connection, yet aloha_email_host_user is "
        "set; most providers offer AUTH only over TLS: set aloha_email_use_tls: true (port 587) or "
        "aloha_email_use_ssl: true (port 465), or empty aloha_email_host_user for a relay that needs no "
        "login."),
    "disconnected": (
        FAILED + "Connection unexpectedly closed", {},
        "the SMTP server closed the connection: check that aloha_email_port, aloha_email_use_tls and "
        "aloha_email_use_ssl match what the provider expects (587 with TLS, or 465 with SSL), and the "
        "provider's logs."),
    "unknown": (
        "Segmentation fault", {},
        "see stdout_lines and stderr_lines, /var/log/aloha/errors.log and /var/log/aloha/send_email.log; "
        "check the aloha_email_* variables."),
}


@pytest.mark.parametrize("case", FIXES)
def test_each_cause_gives_its_fix_word_for_word(case):
    output, kwargs, fix = FIXES[case]
    assert classify_failure(output + "\n", **kwargs) == (case.split(" ")[0], fix)


# --- found by the mutation tests' readers (session 8) -------------------------

def test_an_ses_refusal_of_an_unverified_sender_names_it():
    # Amazon SES refuses an unverified From only after DATA, listing the
    # identities that failed (a domain, then the address).
    line = ("(554, b'Message rejected: Email address is not verified. The following identities "
            "failed the check in region EU-WEST-1: aloha.test, %s')" % TOKENIZED)
    fix = fix_for(FAILED + line + "\n", "sender_refused")
    assert "refused the tokenized sender %s" % TOKENIZED in fix


@pytest.mark.parametrize("line", [
    "socket.gaierror: [Errno -2] Name or service not known",
    "socket.timeout: timed out",
    "socket.herror: [Errno 1] Unknown host",
])
def test_summary_knows_an_exception_named_only_by_its_suffix(line):
    assert failure_summary("Traceback (most recent call last):\n" + line + "\nSentry flushed\n") == line


def test_summary_of_an_empty_error_does_not_take_the_next_line():
    output = "Failed to send mails: \nFull SMTP log follows:\nTimeoutError: timed out\n"
    assert failure_summary(output) == "TimeoutError: timed out"
