# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One scrub function for every aloha_email module: masks secrets in every
form they take in Aloha's output, smtplib transcripts, tracebacks and
JSON/YAML dumps, but keeps the SMTP login user readable.

Stdlib only: runs on the target (Python 3.11 and 3.13).
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MASK = "********"
# Stands for MASK while masking, so a shorter secret form cannot match
# inside an already masked longer one (or inside MASK itself).
_SENTINEL = "\ue000"

# smtplib's debug transcript prints every command as
#   send: 'AUTH PLAIN AGFsb2hhAHNlY3JldA==\r\n'
# (repr of a str; bytes for DATA), optionally prefixed by a timestamp at
# debuglevel 2. Replies are "reply: b'334 ...'" / "reply: retcode (334); ...".
_SEND_RE = re.compile(r"(send:\s*b?(['\"]))(.*?)((?:\\r\\n|\\n)?\2\s*)$")
_REPLY_CODE_RE = re.compile(r"reply:\s*(?:b?['\"](\d{3})|retcode\s*\((\d{3})\))")
_AUTH_ARG_RE = re.compile(r"(\bAUTH\s+[A-Za-z0-9_-]+\s+)([A-Za-z0-9+/]+=*|=)")
# On a line the client sent, any case: that is the command itself.
_SENT_AUTH_ARG_RE = re.compile(_AUTH_ARG_RE.pattern, re.IGNORECASE)
# An EHLO reply lists mechanisms ("AUTH PLAIN LOGIN"): those are no secret.
_MECHANISM_RE = re.compile(r"[A-Z][A-Z0-9_-]*")

# Unpadded base64 of a very short value would match random words.
_MIN_UNPADDED_B64 = 8


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _encodings(value):
    """Byte encodings smtplib or a traceback could have used for value."""
    out = []
    for codec in ("utf-8", "latin-1"):
        try:
            raw = value.encode(codec)
        except UnicodeEncodeError:
            continue
        if raw not in out:
            out.append(raw)
    return out


def _values(items):
    out = []
    for item in items or ():
        if item is None:
            continue
        item = str(item)
        if item and item not in out:
            out.append(item)
    return out


def _text_forms(value):
    """How a secret string looks when printed: as is, in a str or bytes
    repr, JSON- and YAML-quoted, URL-encoded."""
    forms = {value, repr(value)[1:-1],
             value.replace("\\", "\\\\").replace('"', '\\"'),
             value.replace("\\", "\\\\").replace("'", "\\'"),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             value.replace("'", "''"),
             quote(value, safe=""), quote_plus(value, safe=""), quote(value)}
    # Percent escapes in lower case are the same URL.
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms if "%" in f}
    for raw in _encodings(value):
        forms.add(repr(raw)[2:-1])
    return forms


def secret_forms(secrets, user=None):
    """Every string form of SECRETS (and of the login USER as AUTH sends
    it) that may show up in output, longest first. The plain USER is not
    among them: operators need to read it in server replies."""
    user = str(user) if user else ""
    values = [v for v in _values(secrets) if v != user]
    forms = set()

    def add_b64(raw):
        encoded = _b64(raw)
        forms.add(encoded)
        stripped = encoded.rstrip("=")
        if len(stripped) >= _MIN_UNPADDED_B64:
            forms.add(stripped)

    for value in values:
        forms |= _text_forms(value)
        for raw in _encodings(value):
            add_b64(raw)
            # AUTH PLAIN without a user part (authzid and authcid empty).
            add_b64(b"\0\0" + raw)
    if user:
        # AUTH LOGIN sends the user alone in base64.
        for raw in _encodings(user):
            add_b64(raw)

    # AUTH PLAIN sends base64("\0user\0password") (or with the user as
    # authzid too). Callers that do not say which value is the user may
    # still pass it among the secrets: try every ordered pair.
    users = values + ([user] if user else [])
    for login in users:
        for password in values:
            if login == password:
                continue
            for user_raw in _encodings(login):
                for pw_raw in _encodings(password):
                    add_b64(b"\0" + user_raw + b"\0" + pw_raw)
                    add_b64(user_raw + b"\0" + user_raw + b"\0" + pw_raw)
    forms.discard("")
    if user:
        # Forms of a secret that equal the user (a user like "a@b" is its
        # own repr) would hide it again.
        forms.discard(user)
    return sorted(forms, key=len, reverse=True)


def _mask_send_line(line):
    return _SEND_RE.sub(lambda m: m.group(1) + _SENTINEL + m.group(4), line, count=1)


def _scrub_transcript(text):
    """Mask AUTH arguments and the AUTH continuation lines (the base64 user
    and password of AUTH LOGIN, CRAM-MD5 answers), whatever the values."""
    lines = text.split("\n")
    in_auth = False
    for index, line in enumerate(lines):
        if _SEND_RE.search(line) is not None:
            if re.search(r"\bAUTH\s+[A-Za-z0-9_-]+", line, re.IGNORECASE):
                lines[index] = _SENT_AUTH_ARG_RE.sub(
                    lambda m: m.group(1) + _SENTINEL, line)
                in_auth = True
                continue
            if in_auth:
                # A line sent while the server is still asking (334) is an
                # answer to the AUTH challenge: the user or the password.
                lines[index] = _mask_send_line(line)
            continue
        reply = _REPLY_CODE_RE.search(line)
        if reply:
            code = reply.group(1) or reply.group(2)
            if code != "334":
                in_auth = False
            continue

        # Outside recognisable transcript lines, still mask an AUTH argument
        # unless it is a mechanism name (EHLO capability lists).
        def _outside(match):
            if _MECHANISM_RE.fullmatch(match.group(2)):
                return match.group(0)
            return match.group(1) + _SENTINEL

        lines[index] = _AUTH_ARG_RE.sub(_outside, line)
    return "\n".join(lines)


def scrub(text, secrets, user=None):
    """Return TEXT with SECRETS masked in every form (as written, repr,
    JSON, YAML, URL-encoded, base64 alone and in the AUTH PLAIN blob with
    USER) and every AUTH argument or AUTH continuation line of an smtplib
    transcript masked. USER, the SMTP login, stays readable as plain text
    (server replies name it); its base64 form (AUTH LOGIN) is masked."""
    if text is None:
        return text
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _scrub_transcript(text)
    # Longest forms first, so a blob is masked whole before its parts.
    for form in secret_forms(secrets, user):
        if _SENTINEL not in form:
            text = text.replace(form, _SENTINEL)
    return text.replace(_SENTINEL, MASK)
