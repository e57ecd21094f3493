# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the aloha_email modules: running Aloha's commands as
its user, scrubbing SMTP secrets out of text and mapping `manage.py
send_test_email` failures to a cause and a fix.

Pure functions, stdlib only: they run on the target under the system
python3 (3.11 on Debian 12, 3.13 on Debian 13).
"""

from __future__ import annotations

import os
import pwd
import re

# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_scrub import MASK, scrub  # noqa: F401 (re-exported)
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_scrub import MASK, scrub  # noqa: F401


def as_user(command, user, euid=None, current_user=None):
    """COMMAND (argv) as USER: through runuser when we are root and USER is
    someone else, as is when we are USER; None when we can't switch user.
    Aloha's manage.py refuses to run as root; runuser needs no password and
    no tty, unlike su/sudo."""
    euid = os.geteuid() if euid is None else euid
    if current_user is None:
        try:
            current_user = pwd.getpwuid(euid).pw_name
        except KeyError:
            current_user = None
    if current_user == user:
        return list(command)
    if euid == 0:
        return ["runuser", "-u", user, "--"] + list(command)
    return None


_REPLY_CODE_RE = re.compile(r"reply:\s*(?:b?['\"](\d{3})|retcode\s*\((\d{3})\))")


# --- failure classification -------------------------------------------------

# [ \t]*, not \s*: an empty error must not take the next line as its text.
_FAILED_RE = re.compile(r"^Failed to send mails:[ \t]*(.*)$", re.MULTILINE)
# str(SMTPSenderRefused) is "(550, b'5.7.1 ...', 'sender@example.com')".
_SENDER_TUPLE_RE = re.compile(
    r"\((?P<code>\d{3}),\s*b?(?P<q>['\"]).*?(?P=q),\s*'(?P<addr>[^']*)'\)")
_MAIL_FROM_RE = re.compile(r"send:\s*b?['\"]mail FROM:<([^>]*)>", re.IGNORECASE)
_RCPT_TO_RE = re.compile(r"send:\s*b?['\"]rcpt TO:<([^>]*)>", re.IGNORECASE)
_EXC_LINE_RE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*\w*(?:Error|Exception|Refused|Disconnected|"
    r"timeout|gaierror|herror)\b(?::.*)?$")

FIX_SECRETS = ("the password lives in /etc/aloha/aloha-secrets.conf as "
               "email_password")


def _port_text(port):
    return "port %s" % port if port else "EMAIL_PORT (aloha_email_port)"


def _last_reply_code_after(output, pattern):
    """The SMTP reply code that followed the last command matching pattern
    in a transcript, or None."""
    last = None
    for match in pattern.finditer(output):
        last = match
    if last is None:
        return None, None
    reply = _REPLY_CODE_RE.search(output, last.end())
    return last.group(1), (reply.group(1) or reply.group(2)) if reply else None


# Servers that check the sender only at RCPT TO or at the end of DATA word
# the refusal so (postfix smtpd_sender_login_maps, Exim sender verify,
# Microsoft 365 SendAs, Amazon SES's unverified identity).
_SENDER_WORDING_RE = re.compile(
    r"Sender address rejected|Sender verify failed|not owned by user|"
    r"send as this sender|\b5\.7\.60\b|SendAsDenied|Email address is not verified|"
    r"sender (?:address )?(?:is )?not (?:allowed|authori[sz]ed|permitted)",
    re.IGNORECASE)
_POSTFIX_SENDER_RE = re.compile(r"<([^<>\s]*)>:\s*Sender address rejected", re.IGNORECASE)
_EXIM_SENDER_RE = re.compile(r"Verification failed for <([^<>\s]*)>", re.IGNORECASE)
# SES lists the identities that failed; the first address among them.
_SES_SENDER_RE = re.compile(r"failed the check in region [\w-]+:[^@']*?([^\s,:<>']+@[^\s,<>']+)",
                            re.IGNORECASE)


def _late_sender_refusal(output):
    """(code, address) when a refusal at RCPT TO or DATA names the sender,
    not the recipient, else None."""
    refusal = None
    for match in _FAILED_RE.finditer(output):
        if _SENDER_WORDING_RE.search(match.group(1)):
            refusal = match.group(1)
    if refusal is None:
        return None
    code = re.search(r"\((\d{3}),", refusal)
    named = (_POSTFIX_SENDER_RE.search(refusal) or _EXIM_SENDER_RE.search(refusal)
             or _SES_SENDER_RE.search(refusal))
    if named:
        address = named.group(1)
    else:
        # The session's last MAIL FROM is the sender that was refused.
        senders = _MAIL_FROM_RE.findall(output)
        address = senders[-1] if senders else None
    return (code.group(1) if code else None), address


def _sender_refusal(output):
    """(code, address) when the server refused the sender, else None."""
    late = _late_sender_refusal(output)
    if late is not None:
        return late
    for match in _FAILED_RE.finditer(output):
        tuple_match = _SENDER_TUPLE_RE.search(match.group(1))
        if tuple_match and tuple_match.group("code")[0] in "45":
            return tuple_match.group("code"), tuple_match.group("addr")
    for line in output.splitlines():
        if "SMTPSenderRefused" in line:
            tuple_match = _SENDER_TUPLE_RE.search(line)
            if tuple_match:
                return tuple_match.group("code"), tuple_match.group("addr")
    address, code = _last_reply_code_after(output, _MAIL_FROM_RE)
    if code and code[0] in "45":
        return code, address
    if "SMTPSenderRefused" in output:
        return None, None
    return None


def _recipient_refusal(output):
    """Refused recipient addresses, or None."""
    match = re.search(r"^Failed to send mails:\s*\{'([^']*)':\s*\(\d{3},", output,
                      re.MULTILINE)
    if match:
        return [match.group(1)]
    if "SMTPRecipientsRefused" in output:
        return re.findall(r"'([^'@\s]+@[^']+)':\s*\(\d{3},", output) or ["?"]
    address, code = _last_reply_code_after(output, _RCPT_TO_RE)
    if code and code[0] in "45":
        return [address]
    return None


# postfix's replies when a milter does not answer (milter8.c, for
# milter_default_action tempfail and reject).
_MILTER_UNAVAILABLE_RE = re.compile(
    r"\b(?:451|550)\b[\s,(]*b?['\"]?(?:4\.7\.1|5\.5\.0) Service unavailable")


def classify_failure(output, port=None, use_tls=None, use_ssl=None, local_milter=False):
    """Map the output of a failed send_test_email run to (cause, fix).

    output: stdout and stderr together (tracebacks included). port, use_tls
    and use_ssl are the configured values, used to word the fix.
    local_milter: the SMTP server is the role's postfix (local mode), whose
    milter is OpenDKIM; postfix's refusal for a milter that does not answer
    then names OpenDKIM, not the sender.
    """
    text = output or ""
    port_text = _port_text(port)

    if local_milter and _MILTER_UNAVAILABLE_RE.search(text):
        return ("dkim_milter_unavailable",
                "postfix on this host could not reach OpenDKIM, which signs the "
                "mail, and refused it as aloha_email_local_milter_default_action "
                "says: check `systemctl status opendkim` and its socket "
                "/var/spool/postfix/opendkim/opendkim.sock (`systemctl restart "
                "opendkim` makes it again); aloha_email_local_milter_default_action: "
                "accept would send unsigned mail instead.")

    if "Outgoing email not yet configured" in text:
        return ("not_configured",
                "Aloha has no EMAIL_HOST: set aloha_email_host (and "
                "aloha_email_port, aloha_email_host_user) so that "
                "/etc/aloha/settings.py configures outgoing email.")

    if ("mutually exclusive" in text and "EMAIL_USE_SSL" in text) or (
            use_tls and use_ssl and "ValueError" in text):
        return ("tls_and_ssl",
                "aloha_email_use_tls and aloha_email_use_ssl are both true; "
                "Django allows only one: use aloha_email_use_ssl: true with "
                "aloha_email_port: 465, or aloha_email_use_tls: true with "
                "aloha_email_port: 587.")

    if "UnicodeEncodeError" in text:
        return ("non_ascii_password",
                "aloha_email_password (or aloha_email_host_user) contains a "
                "non-ASCII character; Aloha's SMTP client sends the login as "
                "ASCII, so it can never authenticate. Choose an ASCII-only "
                "password at the SMTP provider and store it in the vault as "
                "aloha_email_password.")

    sender = _sender_refusal(text)
    # 530 on MAIL FROM: the server wants a login and Aloha sent none (no
    # SMTP user, or the user without a password).
    if sender is not None and (sender[0] == "530" or re.search(
            r"Failed to send mails:.*Authentication required", text, re.IGNORECASE)):
        return ("auth_refused",
                "the SMTP server requires a login but Aloha did not log in: "
                "set aloha_email_host_user and aloha_email_password (%s)."
                % FIX_SECRETS)

    if "SMTPAuthenticationError" in text or re.search(
            r"Failed to send mails:\s*\((?:535|534|454),", text) or (
            sender is None and re.search(r"reply: retcode \(535\)", text)):
        return ("auth_refused",
                "the SMTP server refused the login: check "
                "aloha_email_host_user and the vault password "
                "aloha_email_password for typos; %s." % FIX_SECRETS)

    if sender is not None:
        address = sender[1] or ""
        local = address.split("@", 1)[0].lower()
        if local.startswith("noreply-"):
            return ("sender_refused",
                    "the SMTP provider refused the tokenized sender %s: Aloha "
                    "sends confirmation emails from random noreply-<token>@ "
                    "addresses. Allow the tokenized sender (noreply-*@ your "
                    "domain) at the provider, or turn the tokens off in "
                    "Aloha: ADD_TOKENS_TO_NOREPLY_ADDRESS = False in "
                    "/etc/aloha/settings.py, which the role writes with "
                    "aloha_email_add_tokens_to_noreply_address: false, so they "
                    "come from the fixed noreply address. Turning tokens off "
                    "is generally safe unless you use the feature letting "
                    "anyone with an email address in a certain domain create "
                    "an account: the tokens protect against the "
                    "helpdesk-software attack." % address)
        return ("sender_refused",
                "the SMTP provider refused the sender %s: allow this From "
                "address at your SMTP provider (Aloha sends from "
                "aloha_ADMINISTRATOR and NOREPLY_EMAIL_ADDRESS; the role sets "
                "the latter with aloha_email_noreply_address)."
                % (address or "address"))

    recipients = _recipient_refusal(text)
    if recipients is not None:
        return ("recipient_refused",
                "the SMTP server refused the recipient %s: check the test "
                "recipient address (aloha_email_test_recipient) and that "
                "the provider lets aloha_email_host_user send to them."
                % ", ".join(recipients))

    if "Connection unexpectedly closed: timed out" in text:
        return ("starttls_on_ssl_port",
                "no SMTP greeting within the timeout on %s: STARTTLS (or "
                "plain SMTP) was spoken to a port that wants TLS from the "
                "first byte, such as 465. Set aloha_email_port: 465 with "
                "aloha_email_use_ssl: true and aloha_email_use_tls: false "
                "(EMAIL_USE_SSL), or use port 587 with TLS "
                "(aloha_email_use_tls: true)." % port_text)

    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ("certificate_untrusted",
                "the SMTP server's certificate is not trusted by the Aloha "
                "host (Aloha verifies it against the system CA store): set "
                "aloha_email_host to the name the certificate is issued for, "
                "or install the issuing CA on the Aloha host "
                "(/usr/local/share/ca-certificates, update-ca-certificates).")

    if re.search(r"WRONG_VERSION_NUMBER|wrong version number", text) or (
            "SSLError" in text and re.search(
                r"record layer failure|PACKET_LENGTH_TOO_LONG|"
                r"UNEXPECTED_RECORD|unknown protocol", text)):
        return ("ssl_on_starttls_port",
                "TLS from the first byte (EMAIL_USE_SSL) was spoken to %s, "
                "which talks plain SMTP and upgrades with STARTTLS. Set "
                "aloha_email_use_ssl: false and aloha_email_use_tls: true "
                "for port 587, or set aloha_email_port: 465 if the provider "
                "offers SSL there." % port_text)

    if "ConnectionRefusedError" in text or "Connection refused" in text or (
            "No route to host" in text):
        return ("connection_refused",
                "nothing accepts connections on %s of aloha_email_host, or a "
                "firewall rejects them: check aloha_email_host and "
                "aloha_email_port (587 for STARTTLS, 465 for SSL)." % port_text)

    if "gaierror" in text or re.search(
            r"Name or service not known|Temporary failure in name resolution|"
            r"No address associated with hostname|nodename nor servname", text):
        return ("host_not_found",
                "the Aloha host cannot resolve the SMTP server name: check "
                "aloha_email_host for typos and the host's DNS.")

    if re.search(r"TimeoutError|socket\.timeout|\btimed out\b", text):
        return ("port_blocked",
                "connecting to aloha_email_host on %s timed out: your hosting "
                "provider may block outgoing SMTP on %s; check its firewall, "
                "or use another port the SMTP provider offers "
                "(aloha_email_port: 587 or 465)." % (port_text, port_text))

    if "STARTTLS extension not supported by server" in text:
        return ("starttls_not_offered",
                "the SMTP server on %s does not offer STARTTLS, so Aloha "
                "(aloha_email_use_tls: true) cannot encrypt the session: use "
                "the provider's submission port (aloha_email_port: 587 with "
                "aloha_email_use_tls: true, or 465 with aloha_email_use_ssl: "
                "true and aloha_email_use_tls: false)." % port_text)

    if "SMTP AUTH extension not supported by server" in text:
        return ("auth_not_offered",
                "the SMTP server on %s offers no login on this connection, "
                "yet aloha_email_host_user is set; most providers offer AUTH "
                "only over TLS: set aloha_email_use_tls: true (port 587) or "
                "aloha_email_use_ssl: true (port 465), or empty "
                "aloha_email_host_user for a relay that needs no login."
                % port_text)

    if "SMTPServerDisconnected" in text or "Connection unexpectedly closed" in text:
        return ("disconnected",
                "the SMTP server closed the connection: check that "
                "aloha_email_port, aloha_email_use_tls and aloha_email_use_ssl "
                "match what the provider expects (587 with TLS, or 465 with "
                "SSL), and the provider's logs.")

    return ("unknown",
            "see stdout_lines and stderr_lines, /var/log/aloha/errors.log and "
            "/var/log/aloha/send_email.log; check the aloha_email_* "
            "variables.")


def smtp_error_output(error, transcript="", traceback_text=""):
    """The text Aloha's send_test_email prints when sending raises error:
    "Failed to send mails: <error>" and the SMTP transcript for an SMTP
    protocol error, the traceback for anything else. Lets a client that
    talks SMTP itself (the preflight) use classify_failure and
    failure_summary on the same text the verification sees."""
    import smtplib  # only the preflight needs it; keep the import local

    if isinstance(error, smtplib.SMTPException):
        return "Failed to send mails: %s\n\nFull SMTP log follows:\n%s" % (
            error, transcript or "")
    return "%s\n%s" % (transcript or "", traceback_text or "%s: %s" % (
        type(error).__name__, error))


def failure_summary(output):
    """One line that says what went wrong in a send_test_email output."""
    text = output or ""
    match = _FAILED_RE.search(text)
    if match and match.group(1).strip():
        return ("Failed to send mails: " + match.group(1).strip())[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "Outgoing email not yet configured" in line:
            return line[:300]
    # The last exception line of a traceback is the error that ended it.
    exception_lines = [line for line in lines if _EXC_LINE_RE.match(line)]
    if exception_lines:
        return exception_lines[-1][:300]
    return (lines[-1] if lines else "no output")[:300]
