#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_smtp_preflight
short_description: Check from the Aloha host that the SMTP server will take Aloha's mail, without sending any
description:
  - Connects to the SMTP server exactly as Aloha (Django's SMTP backend)
    will, with I(host), I(port), a 15 second timeout, STARTTLS (I(use_tls)) or
    TLS from the first byte (I(use_ssl)) with the system CA store and a
    hostname check, EHLO, and AUTH with I(user) and I(password) when both
    are set.
  - Then, for each of I(senders), sends C(MAIL FROM) the sender,
    C(RCPT TO) I(recipient) and C(RSET); at the end C(QUIT). It never sends
    C(DATA), so no mail is sent.
  - A C({token}) in a sender is replaced by 24 random characters of
    lower-case base32, as Aloha does for its tokenized noreply address.
  - A failure is classified into the troubleshooting causes the role's
    verification (M(aloha_send_test_email)) reports, with the same fix.
  - The password is never returned; the SMTP transcript and the message
    are scrubbed of it in every form (plain, repr, JSON, URL-encoded,
    base64, the AUTH PLAIN blob with I(user)) and of every AUTH argument.
version_added: "1.1.0"
options:
  host:
    description: SMTP server name (EMAIL_HOST); the certificate must match it.
    type: str
    required: true
  port:
    description: SMTP port (EMAIL_PORT).
    type: int
    required: true
  use_tls:
    description: Upgrade with STARTTLS after the greeting (EMAIL_USE_TLS).
    type: bool
    default: false
  use_ssl:
    description: Speak TLS from the first byte (EMAIL_USE_SSL).
    type: bool
    default: false
  user:
    description:
      - SMTP login (EMAIL_HOST_USER); empty means no AUTH.
      - Also the login user for scrubbing, hence the alias I(login_user)
        (the name the other modules use); its base64 forms (AUTH LOGIN,
        AUTH PLAIN with the password) are masked in the output, the plain
        name stays readable (a server's "not owned by user" reply names it).
    type: str
    default: ""
    aliases: [login_user]
  password:
    description: SMTP password (the secret email_password).
    type: str
    default: ""
  senders:
    description:
      - The From addresses Aloha uses, in order; C({token}) is replaced by a
        random token. Empty items and duplicates are skipped.
    type: list
    elements: str
    required: true
  recipient:
    description: Address to offer as C(RCPT TO) (the test recipient).
    type: str
    required: true
  ca_pem:
    description:
      - CA certificates (PEM) to verify the server's certificate against,
        instead of the system CA store (a local-mode smarthost with
        C(aloha_email_local_relay_ca_file)).
    type: str
    default: ""
  variable_names:
    description:
      - Role variable names to use in the fix instead of the smtp-mode ones,
        e.g. C(aloha_email_host) to C(aloha_email_local_relay_host) when the
        server checked is local mode's smarthost.
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for the connection and each reply; Aloha uses 15.
    type: int
    default: 15
notes:
  - Changes nothing, so it also runs in check mode.
  - Like Django, it logs in only when both I(user) and I(password) are set.
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Check that the SMTP server takes Aloha's senders.
  aloha_smtp_preflight:
    host: smtp.example.com
    port: 587
    use_tls: true
    user: aloha@example.com
    password: "{{ aloha_email_password }}"
    senders:
      - admin@example.com
      - noreply@example.com
      - noreply-{token}@example.com
    recipient: admin@example.com
"""

RETURN = r"""
msg:
  description: What happened; on failure the cause, the error and the fix.
  returned: always
  type: str
  sample: "SMTP preflight passed: smtp.example.com:587 (STARTTLS) accepted 3 senders for admin@example.com"
senders:
  description: Sender addresses checked (tokens filled in), in order.
  returned: always
  type: list
  elements: str
recipient:
  description: The recipient offered.
  returned: always
  type: str
transcript:
  description: The SMTP client's debug transcript, with AUTH arguments and the password masked.
  returned: always
  type: list
  elements: str
cause:
  description:
    - Failure cause, as M(aloha_send_test_email) reports it, e.g. port_blocked,
      connection_refused, starttls_on_ssl_port, ssl_on_starttls_port,
      certificate_untrusted, auth_refused, sender_refused, recipient_refused.
  returned: failure
  type: str
fix:
  description: What to change, naming the role variables.
  returned: failure
  type: str
"""

import io
import random
import re
import smtplib
import ssl
import traceback
from contextlib import redirect_stderr

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_scrub import scrub
    from ansible.module_utils.aloha_email_smtp import (
        classify_failure,
        failure_summary,
        smtp_error_output,
    )
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_scrub import scrub
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_smtp import (
        classify_failure,
        failure_summary,
        smtp_error_output,
    )

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
FAILED_PREFIX = "Failed to send mails: "


def fill_token(address, rng=random.SystemRandom()):
    """Aloha's tokenized noreply address: {token} -> 24 chars of base32."""
    if "{token}" not in address:
        return address
    token = "".join(rng.choice(TOKEN_ALPHABET) for _ in range(24))
    return address.replace("{token}", token)


def effective_senders(senders):
    out = []
    for sender in senders or ():
        sender = (sender or "").strip()
        if sender:
            sender = fill_token(sender)
            if sender not in out:
                out.append(sender)
    return out


def converse(params, senders, recipient):
    """The SMTP dialogue; raises what smtplib (or the socket) raises, with
    SMTPSenderRefused / SMTPRecipientsRefused as Django's sendmail would."""
    context = ssl.create_default_context(cadata=params.get("ca_pem") or None)
    timeout = params["timeout"]
    # Class-wide, so the connect and the greeting are in the transcript too.
    smtplib.SMTP.debuglevel = 1
    if params["use_ssl"]:
        conn = smtplib.SMTP_SSL(params["host"], params["port"], timeout=timeout,
                                context=context)
    else:
        conn = smtplib.SMTP(params["host"], params["port"], timeout=timeout)
    try:
        if params["use_tls"]:
            conn.starttls(context=context)
        if params["user"] and params["password"]:
            conn.login(params["user"], params["password"])
        conn.ehlo_or_helo_if_needed()
        for sender in senders:
            code, resp = conn.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, sender)
            code, resp = conn.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, resp)})
            conn.rset()
        conn.quit()
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
        # A refusal: end the session politely, then report the refusal.
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
        raise
    finally:
        conn.close()


def describe(params):
    mode = "SSL" if params["use_ssl"] else "STARTTLS" if params["use_tls"] else "plain"
    return "%s:%s (%s)" % (params["host"], params["port"], mode)


def rename_variables(text, names):
    """The fix names the role's smtp-mode variables; a check of another
    server (local mode's smarthost) names that server's variables."""
    for old, new in sorted((names or {}).items(), key=lambda item: -len(item[0])):
        text = re.sub(r"\b%s\b" % re.escape(old), new, text)
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", required=True),
            use_tls=dict(type="bool", default=False),
            use_ssl=dict(type="bool", default=False),
            user=dict(type="str", default="", aliases=["login_user"]),
            password=dict(type="str", default="", no_log=True),
            senders=dict(type="list", elements="str", required=True),
            recipient=dict(type="str", required=True),
            ca_pem=dict(type="str", default=""),
            variable_names=dict(type="dict", default={}),
            timeout=dict(type="int", default=15),
        ),
        supports_check_mode=True,
    )
    params = module.params
    params["user"] = params["user"] or ""
    params["password"] = params["password"] or ""
    secrets = [params["password"]]
    senders = effective_senders(params["senders"])
    recipient = (params["recipient"] or "").strip()
    result = dict(changed=False, senders=senders, recipient=recipient, transcript=[])

    if not senders:
        module.fail_json(msg="SMTP preflight: no sender to check (senders is empty)",
                         **result)
    if not recipient:
        module.fail_json(msg="SMTP preflight: no recipient: set aloha_email_test_recipient "
                             "(or aloha_ADMINISTRATOR in settings.py)", **result)
    if params["use_tls"] and params["use_ssl"]:
        cause, fix = classify_failure("mutually exclusive EMAIL_USE_SSL",
                                      port=params["port"], use_tls=True, use_ssl=True)
        module.fail_json(msg="SMTP preflight failed (%s): EMAIL_USE_TLS and EMAIL_USE_SSL "
                             "are both true. Fix: %s" % (cause, fix),
                         cause=cause, fix=fix, **result)

    log = io.StringIO()
    error = None
    trace = ""
    with redirect_stderr(log):
        try:
            converse(params, senders, recipient)
        except Exception as e:  # pylint: disable=broad-except
            error = e
            trace = traceback.format_exc()
    transcript = scrub(log.getvalue(), secrets, params["user"])
    result["transcript"] = transcript.splitlines()

    if error is None:
        result["msg"] = "SMTP preflight passed: %s accepted %d sender%s for %s" % (
            describe(params), len(senders), "" if len(senders) == 1 else "s", recipient)
        module.exit_json(**result)

    output = scrub(smtp_error_output(error, transcript, trace), secrets, params["user"])
    cause, fix = classify_failure(output, port=params["port"],
                                  use_tls=params["use_tls"], use_ssl=params["use_ssl"])
    summary = scrub(failure_summary(output), secrets, params["user"])
    # The preflight sends no mail: keep the error, not Aloha's prefix.
    if summary.startswith(FAILED_PREFIX):
        summary = summary[len(FAILED_PREFIX):]
    fix = rename_variables(fix, params["variable_names"])
    result.update(cause=cause, fix=fix)
    result["msg"] = "SMTP preflight failed (%s): %s. Fix: %s" % (
        cause, summary.rstrip("."), fix)
    module.fail_json(**result)


if __name__ == "__main__":
    main()
