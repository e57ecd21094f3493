#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_send_test_email
short_description: Verify Aloha's outgoing email with manage.py send_test_email
description:
  - Runs C(<deploy_path>/manage.py send_test_email RECIPIENT...) as the Aloha
    user, which sends two test emails (one from the administrator address,
    one from the noreply address) through the configured SMTP server.
  - The output is scrubbed of the SMTP password (plain, repr, JSON, YAML,
    URL-encoded and base64, including the AUTH lines of the SMTP
    transcript) and of the base64 forms of I(login_user) before it is
    returned; the plain user name stays readable.
  - On failure, names the likely cause and the role variable(s) to change.
  - Never reports a change, since sending a test email changes no
    configuration.
version_added: "1.0.0"
options:
  deploy_path:
    description: Aloha deployment directory holding C(manage.py).
    type: path
    default: /home/aloha/deployments/current
  user:
    description:
      - User to run the command as. When the module runs as root it uses
        C(runuser -u USER); when it already runs as USER, it runs directly.
    type: str
    default: aloha
  recipients:
    description: Addresses to send the test emails to.
    type: list
    elements: str
    required: true
  secrets:
    description:
      - Values to scrub from the output, typically the SMTP password and the
        SMTP user.
    type: list
    elements: str
    default: []
  login_user:
    description:
      - The SMTP login user (EMAIL_HOST_USER). Its base64 form (AUTH LOGIN,
        AUTH PLAIN with each of I(secrets)) is scrubbed from the output; the
        plain name stays readable (a server's "not owned by user" reply
        names it).
      - Give the user here, not in I(secrets) as well; Ansible itself masks
        every value of the no_log option I(secrets) in the result.
    type: str
    default: ""
  port:
    description: Configured SMTP port, only used to word failure messages.
    type: int
  use_tls:
    description: Configured EMAIL_USE_TLS, only used to word failure messages.
    type: bool
  use_ssl:
    description: Configured EMAIL_USE_SSL, only used to word failure messages.
    type: bool
  file_path:
    description:
      - File mode, the how-to's C(EMAIL_FILE_PATH). When set, also check that
        the two test emails were written there as new files.
    type: path
  relay_wait:
    description:
      - Local mode, C(EMAIL_HOST) localhost; after sending, wait up to this
        many seconds until postfix has passed the test emails on (they are
        no longer in its queue, C(postqueue -j)). Mail still queued then
        fails the module with postfix's reason for the delay (the smarthost
        refused the login, did not prove its certificate, could not be
        reached), or as I(deferred) says when the receiving server deferred
        it. C(0) does not wait.
    type: int
    default: 0
  local_milter:
    description:
      - Local mode, C(EMAIL_HOST) is the role's postfix with OpenDKIM as
        its milter. postfix's refusal when the milter does not answer
        (C(milter_default_action) tempfail or reject) then gets the cause
        dkim_milter_unavailable, not sender_refused.
    type: bool
    default: false
  smarthost:
    description:
      - The smarthost postfix relays through (local mode's
        C(aloha_email_local_relay_host)); empty when postfix delivers to the
        recipients' MX itself. Only words the failure; with no smarthost, a
        connection to port 25 that fails is the cause C(port25_blocked).
        Not given; unknown (system mode).
    type: str
  deferred:
    description:
      - With I(relay_wait), what a test email that the receiving server
        deferred (a 4xx reply such as greylisting, not a connection, login
        or TLS failure) does.
      - C(warn) returns at once with a warning that names the queue id and
        postfix's reason (postfix retries the mail); C(fail) waits
        I(relay_wait) seconds and fails with cause C(deferred) when the mail
        is still queued then.
    type: str
    choices: [warn, fail]
    default: warn
notes:
  - In check mode nothing is run.
  - I(relay_wait) sees mail that waits in postfix's queue, not mail the
    next server refused for good (postfix returns that to the sender).
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Send Aloha's test emails
  aloha_send_test_email:
    recipients:
      - admin@example.com
    secrets:
      - "{{ aloha_email_password }}"
    login_user: "{{ aloha_email_host_user }}"
    port: "{{ aloha_email_port }}"
    use_tls: "{{ aloha_email_use_tls }}"
    use_ssl: "{{ aloha_email_use_ssl }}"
"""

RETURN = r"""
msg:
  description: What happened; on failure the cause, the error and the fix.
  returned: always
  type: str
  sample: Sent 2 test emails to admin@example.com
stdout_lines:
  description: Scrubbed standard output of send_test_email.
  returned: when run
  type: list
  elements: str
stderr_lines:
  description: Scrubbed standard error of send_test_email.
  returned: when run
  type: list
  elements: str
rc:
  description: Exit code of send_test_email.
  returned: when run
  type: int
cause:
  description:
    - Failure cause, one of not_configured, starttls_on_ssl_port,
      ssl_on_starttls_port, certificate_untrusted, auth_refused,
      sender_refused, recipient_refused, connection_refused, port_blocked,
      host_not_found, tls_and_ssl, non_ascii_password, starttls_not_offered,
      auth_not_offered, disconnected, unknown; with I(relay_wait) also
      relay_auth_refused, relay_certificate_untrusted, relay_unreachable,
      port25_blocked, relay_tls_mismatch, deferred, relay_deferred; with I(local_milter) also
      dkim_milter_unavailable.
  returned: failure
  type: str
fix:
  description: What to change, naming the role variables.
  returned: failure
  type: str
queued:
  description:
    - Local mode, I(relay_wait) set and the mail still queued; postfix's
      queue entries of the test emails.
    - On success, the test emails the receiving server deferred (I(deferred)
      C(warn)); the warning names them.
  returned: failure, or success with deferred test emails
  type: list
  elements: dict
cmd:
  description: The command that was run.
  returned: when run
  type: list
  elements: str
"""

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_scrub import scrub
    from ansible.module_utils.aloha_email_smtp import (
        as_user,
        classify_failure,
        failure_summary,
    )
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_scrub import scrub
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_smtp import (
        as_user,
        classify_failure,
        failure_summary,
    )


def build_command(manage_py, recipients, user, euid=None, current_user=None):
    """argv for send_test_email as USER; None when we can't switch user."""
    return as_user([manage_py, "send_test_email"] + list(recipients), user, euid, current_user)


SUBJECTS = ("Aloha email test", "Aloha noreply email test")


def written_files(path):
    """Names of the files Django's file backend has written under path."""
    try:
        return set(name for name in os.listdir(path) if name.endswith(".log"))
    except OSError:
        return set()


def missing_subjects(path, names):
    """Test email subjects not found in the files NAMES under path."""
    text = ""
    for name in sorted(names):
        with open(os.path.join(path, name), encoding="utf-8", errors="replace") as handle:
            text += handle.read()
    return [s for s in SUBJECTS if "Subject: %s\n" % s not in text.replace("\r\n", "\n")]


def queued_test_emails(postqueue_output, recipients, since):
    """Entries of `postqueue -j` (one JSON object per line) for mail to
    RECIPIENTS that arrived at or after SINCE (epoch seconds)."""
    wanted = set(r.lower() for r in recipients)
    found = []
    for line in postqueue_output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        addresses = set(r.get("address", "").lower() for r in entry.get("recipients", []))
        if entry.get("arrival_time", 0) >= since and addresses & wanted:
            found.append(entry)
    return found


# postfix's delay reasons, as smtp(8) words them, and the role's fixes.
RELAY_CAUSES = (
    (r"SASL authentication failed|authentication failed|\b535\b",
     "relay_auth_refused", "the smarthost refused the login: check aloha_email_local_relay_user and the vault "
     "password aloha_email_local_relay_password"),
    (r"certificate verification failed|[Uu]ntrusted issuer|[Ss]erver certificate not (verified|trusted)"
     r"|certificate name mismatch",
     "relay_certificate_untrusted", "postfix does not trust the smarthost's certificate: give the CA that issued "
     "it as aloha_email_local_relay_ca_file, or set aloha_email_local_relay_host to the name the certificate "
     "is issued for"),
    (r"wrong version number|while receiving the initial server greeting|TLS is required, but was not offered"
     r"|Cannot start TLS",
     "relay_tls_mismatch", "the smarthost's port speaks the other TLS flavour: use "
     "aloha_email_local_relay_port 587 for STARTTLS or 465 for TLS from the first byte, as the provider says"),
    (r"Connection refused|Connection timed out|Network is unreachable|No route to host|Host or domain name not "
     r"found|Name service error",
     "relay_unreachable", "postfix cannot reach the smarthost: check aloha_email_local_relay_host and "
     "aloha_email_local_relay_port, and that the firewall lets this host connect out to that port"),
)
# No smarthost and the recipient's MX cannot be reached on port 25: most
# clouds block outgoing port 25 by default.
PORT25_RE = re.compile(r"connect to \S+\[[^\]]*\]:25: (?:Connection refused|Connection timed out"
                       r"|Network is unreachable|No route to host)")
PORT25_FIX = ("postfix delivers directly (no smarthost) and cannot connect to the recipient's mail server on "
              "port 25, which most hosting providers block: use a smarthost (aloha_email_local_relay_host, "
              "with aloha_email_local_relay_port, aloha_email_local_relay_user and "
              "aloha_email_local_relay_password), or have the provider open outgoing port 25")
# The next server answered and said "later" (greylisting, a full mailbox,
# rate limits): postfix keeps the mail and retries it.
SERVER_DEFERRED_RE = re.compile(r"\bsaid: 4\d\d\b|refused to talk to me: 4\d\d\b")
DEFERRED_FIX = ("the receiving server deferred the mail with a temporary (4xx) reply, as greylisting does; "
                "postfix retries it (`postqueue -p` on the host shows it). Set aloha_email_local_deferred: warn "
                "to accept a deferral with a warning")


def relay_failure(reasons, smarthost=None):
    """(cause, fix) for postfix's delay reasons of the queued test emails.
    SMARTHOST: the relay host, "" for direct delivery, None when unknown."""
    text = " ".join(reasons)
    for pattern, cause, fix in RELAY_CAUSES:
        if re.search(pattern, text):
            if cause == "relay_unreachable" and smarthost == "" and PORT25_RE.search(text):
                return "port25_blocked", PORT25_FIX
            return cause, fix
    # Only when every test email got a server's 4xx: anything else is a
    # failure of this host's own path out.
    if reasons and all(SERVER_DEFERRED_RE.search(r) for r in reasons):
        return "deferred", DEFERRED_FIX
    return "relay_deferred", ("postfix could not pass the mail on yet: see its reason above and "
                              "`postqueue -p` on the host")


def delay_reasons(entries, secrets=(), login_user=None, known=None):
    """postfix's scrubbed delay reasons of the queue ENTRIES, one each.
    KNOWN: {queue id: reasons} seen before, for an entry that is being
    retried (active) and shows none now."""
    found = set()
    for e in entries:
        reasons = [r["delay_reason"] for r in e.get("recipients", []) if r.get("delay_reason")]
        found.update(reasons or (known or {}).get(e.get("queue_id"), []))
    return sorted(set(scrub(r, secrets, login_user) for r in found))


def deferred_by_server(entries, smarthost=None):
    """True when every one of ENTRIES waits in the deferred queue because
    the receiving server answered 4xx (relay_failure's cause deferred)."""
    if not entries or any(e.get("queue_name") != "deferred" for e in entries):
        return False
    recipients = [r for e in entries for r in e.get("recipients", [])]
    if not all(r.get("delay_reason") for r in recipients):
        return False
    return relay_failure(delay_reasons(entries), smarthost)[0] == "deferred"


def wait_for_relay(module, recipients, since, timeout, secrets, login_user=None, smarthost=None, deferred="fail"):
    """None when postfix passed the test emails on within TIMEOUT seconds;
    else (msg, cause, fix, entries). With DEFERRED "warn", returns as soon
    as the receiving server has deferred every queued test email (cause
    deferred); the caller warns instead of failing."""
    # System mode's MTA may be another than postfix: nothing to watch then.
    if module.get_bin_path("postqueue") is None:
        return None
    deadline = time.monotonic() + timeout
    known = {}
    looks = 0
    while True:
        rc, out, err = module.run_command(["postqueue", "-j"])
        if rc != 0:
            return ("postqueue -j failed (rc %s): %s" % (rc, scrub(err, secrets, login_user).strip()), "relay_deferred",
                    "check that postfix runs on this host", [])
        entries = queued_test_emails(out, recipients, since)
        for entry in entries:
            known[entry.get("queue_id")] = delay_reasons([entry]) or known.get(entry.get("queue_id"), [])
        if not entries or time.monotonic() >= deadline:
            break
        # The server said "later": waiting longer rarely helps (greylisting
        # lasts minutes) and postfix retries it anyway.
        if deferred == "warn" and deferred_by_server(entries, smarthost):
            break
        # A deferred test email would wait for the next queue run: retry it
        # now. Only the test emails: other mail in the queue keeps its schedule.
        for entry in entries:
            if entry.get("queue_name") == "deferred" and entry.get("queue_id"):
                module.run_command(["postqueue", "-i", entry["queue_id"]])
        # postfix usually passes mail on within a second: look again soon,
        # then every 3 s.
        time.sleep(min(3, 0.5 * 2 ** looks))
        looks += 1
    if not entries:
        return None
    reasons = delay_reasons(entries, secrets, login_user, known)
    cause, fix = relay_failure(reasons, smarthost)
    ids = ", ".join(e.get("queue_id") or "?" for e in entries)
    if cause == "deferred" and deferred == "warn":
        msg = ("the receiving server deferred %d test emails (postfix queue id %s): %s. postfix retries them; "
               "`postqueue -p` on the host shows them until they leave" % (len(entries), ids, "; ".join(reasons)))
    else:
        msg = ("send_test_email handed %d test emails to postfix, but after %d s they are still in its queue "
               "(%s; queue id %s): %s. Fix: %s" % (len(entries), timeout, cause, ids,
                                                   "; ".join(reasons) or "no reason given yet", fix))
    return msg, cause, fix, [dict(queue_id=e.get("queue_id"), queue_name=e.get("queue_name")) for e in entries]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deploy_path=dict(type="path", default="/home/aloha/deployments/current"),
            user=dict(type="str", default="aloha"),
            recipients=dict(type="list", elements="str", required=True),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
            login_user=dict(type="str", default="", no_log=False),
            port=dict(type="int"),
            use_tls=dict(type="bool"),
            use_ssl=dict(type="bool"),
            file_path=dict(type="path"),
            relay_wait=dict(type="int", default=0),
            local_milter=dict(type="bool", default=False),
            smarthost=dict(type="str"),
            deferred=dict(type="str", choices=["warn", "fail"], default="warn"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    recipients = [r for r in params["recipients"] if r]
    if not recipients:
        module.fail_json(msg="recipients is empty: give at least one address")

    if module.check_mode:
        module.exit_json(changed=False, skipped=True, msg="not run in check mode")

    manage_py = os.path.join(params["deploy_path"], "manage.py")
    if not os.path.isfile(manage_py):
        module.fail_json(msg="%s not found: is Aloha deployed at deploy_path %s?"
                             % (manage_py, params["deploy_path"]))

    command = build_command(manage_py, recipients, params["user"])
    if command is None:
        module.fail_json(msg="must run as root (become: true) or as %s to run "
                             "send_test_email" % params["user"])

    file_path = params["file_path"]
    before = written_files(file_path) if file_path else set()
    since = int(time.time()) - 1
    rc, stdout, stderr = module.run_command(command, cwd=params["deploy_path"])
    secrets = params["secrets"] or []
    login_user = params["login_user"]
    stdout = scrub(stdout, secrets, login_user)
    stderr = scrub(stderr, secrets, login_user)
    result = dict(
        changed=False,
        rc=rc,
        cmd=command,
        stdout_lines=stdout.splitlines(),
        stderr_lines=stderr.splitlines(),
    )
    if rc == 0 and file_path:
        new = written_files(file_path) - before
        missing = missing_subjects(file_path, new)
        result["files"] = sorted(os.path.join(file_path, name) for name in new)
        if missing:
            result.update(cause="file_backend", fix="check that EMAIL_FILE_PATH (aloha_email_file_path) is "
                          "writable by the Aloha user and no other EMAIL_BACKEND overrides the section")
            result["msg"] = ("send_test_email ran, but %s has no new file with %s. Fix: %s"
                             % (file_path, " and ".join(repr(m) for m in missing), result["fix"]))
            module.fail_json(**result)
    if rc == 0 and params["relay_wait"] > 0:
        stuck = wait_for_relay(module, recipients, since, params["relay_wait"], secrets, login_user,
                               params["smarthost"], params["deferred"])
        if stuck:
            msg, cause, fix, entries = stuck
            if cause == "deferred" and params["deferred"] == "warn":
                module.warn(msg)
                result["queued"] = entries
            else:
                result.update(msg=msg, cause=cause, fix=fix, queued=entries)
                module.fail_json(**result)
    if rc == 0:
        count = re.search(r"Successfully sent (\d+) emails?", stdout)
        result["msg"] = "Sent %s test emails to %s" % (
            count.group(1) if count else 2, ", ".join(recipients))
        if result.get("queued"):
            result["msg"] += "; the receiving server deferred %d of them (see the warning)" % len(result["queued"])
        module.exit_json(**result)

    output = stdout + "\n" + stderr
    cause, fix = classify_failure(output, port=params["port"], use_tls=params["use_tls"],
                                  use_ssl=params["use_ssl"], local_milter=params["local_milter"])
    result.update(cause=cause, fix=fix)
    # Scrub again: the summary is cut from already scrubbed text, but this
    # is the line people paste into tickets.
    summary = scrub(failure_summary(output), secrets, login_user)
    result["msg"] = "send_test_email failed (%s): %s. Fix: %s" % (
        cause, summary.rstrip("."), fix)
    module.fail_json(**result)


if __name__ == "__main__":
    main()
