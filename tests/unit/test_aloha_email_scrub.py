"""scrub(text, secrets, user): every form of the secrets masked, the login
user's base64 forms masked, the plain user readable (issue 10)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from ansible.module_utils.aloha_email_scrub import MASK, scrub

USER = "aloha@aloha.test"
PASSWORD = "Pa55;w%rd#\"x'\\{{ y }}"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def forms(user, password):
    return {
        "plain": password,
        "repr": repr(password)[1:-1],
        "bytes repr": repr(password.encode())[2:-1],
        "json": json.dumps(password)[1:-1],
        "yaml single-quoted": password.replace("'", "''"),
        "url": quote(password, safe=""),
        "url plus": quote_plus(password),
        "url lower case": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(password, safe="")),
        "double-quoted escapes": password.replace("\\", "\\\\").replace('"', '\\"'),
        "single-quoted escapes": password.replace("\\", "\\\\").replace("'", "\\'"),
        "b64 password": b64(password),
        "b64 auth plain": b64("\0%s\0%s" % (user, password)),
        "b64 auth plain with authzid": b64("%s\0%s\0%s" % (user, user, password)),
        "b64 user (AUTH LOGIN)": b64(user),
    }


@pytest.mark.parametrize("name", sorted(forms(USER, PASSWORD)))
def test_every_form_is_masked_and_the_user_stays_readable(name):
    form = forms(USER, PASSWORD)[name]
    text = "reply: b'535 5.7.8 Error: authentication failed: %s'\n" \
           "Sender address rejected: not owned by user %s\n" % (form, USER)
    clean = scrub(text, [PASSWORD], user=USER)
    assert form not in clean
    assert MASK in clean
    assert "not owned by user %s" % USER in clean
    # The whole form is masked, not a part of it: nothing of it is left.
    assert clean == text.replace(form, MASK)


def test_every_secret_is_masked_not_only_the_last():
    text = "first %s second %s" % (PASSWORD, "0ther-Secret")
    assert scrub(text, [PASSWORD, "0ther-Secret"]) == "first %s second %s" % (MASK, MASK)
    assert scrub(b64("0ther-Secret") + " " + b64(PASSWORD), [PASSWORD, "0ther-Secret"]) == MASK + " " + MASK


def test_user_among_the_secrets_stays_readable_when_named_as_user():
    text = "553 5.7.1 <noreply-abc@aloha.test>: Sender address rejected: not owned by user %s" % USER
    assert scrub(text, [PASSWORD, USER], user=USER) == text
    # Without saying which one is the user, every value is a secret.
    assert USER not in scrub(text, [PASSWORD, USER])


def test_server_echo_of_the_auth_plain_blob_is_masked():
    blob = b64("\0%s\0%s" % (USER, PASSWORD))
    text = "Failed to send mails: (535, b'5.7.8 Authentication credentials invalid: %s')" % blob
    clean = scrub(text, [PASSWORD], user=USER)
    assert blob not in clean and clean.endswith(MASK + "')")


def test_a_secret_inside_a_longer_blob_leaves_no_fragment():
    # Longest first: the blob is masked whole, not its password part.
    text = "%s %s" % (b64("%s\0%s\0%s" % (USER, USER, PASSWORD)), PASSWORD)
    assert scrub(text, [PASSWORD], user=USER) == "%s %s" % (MASK, MASK)


def test_the_mask_is_eight_stars():
    # The role's docs and the operators' greps rely on this exact string.
    assert MASK == "********"
    assert scrub("password: %s." % PASSWORD, [PASSWORD]) == "password: ********."


def test_none_among_the_secrets_is_skipped_not_the_end():
    assert scrub("a %s b" % PASSWORD, [None, "", PASSWORD]) == "a %s b" % MASK
    assert scrub(None, [PASSWORD]) is None
    assert scrub(("x %s" % PASSWORD).encode(), [PASSWORD]) == "x " + MASK


# An smtplib debug transcript (debuglevel 1 and 2) with credentials the
# caller does not know (say, from an operator's own settings): every AUTH
# argument and AUTH continuation line is masked, whatever the value.
TRANSCRIPT = """send: 'ehlo aloha.test\\r\\n'
reply: b'250-smtp.aloha.test\\r\\n'
reply: b'250 AUTH PLAIN LOGIN\\r\\n'
reply: retcode (250); Msg: b'smtp.aloha.test\\nAUTH PLAIN LOGIN'
send: 'AUTH PLAIN AHVua25vd24AdW5rbm93bi1zZWNyZXQ=\\r\\n'
reply: b'535 5.7.8 Authentication credentials invalid\\r\\n'
send: 'AUTH LOGIN dW5rbm93bg==\\r\\n'
reply: b'334 UGFzc3dvcmQ6\\r\\n'
reply: retcode (334); Msg: b'UGFzc3dvcmQ6'
send: 'c2VjcmV0LWxvZ2luLXBhc3M=\\r\\n'
reply: b'235 2.7.0 Authentication successful\\r\\n'
reply: retcode (235); Msg: b'2.7.0 Authentication successful'
send: 'mail FROM:<support@aloha.test>\\r\\n'
12:00:01.000000 send: b'data-line-after-auth\\r\\n'
"""


def test_transcript_auth_arguments_and_continuations_are_masked():
    clean = scrub(TRANSCRIPT, [])
    for secret in ("AHVua25vd24AdW5rbm93bi1zZWNyZXQ=", "dW5rbm93bg==", "c2VjcmV0LWxvZ2luLXBhc3M="):
        assert secret not in clean
    lines = clean.split("\n")
    # Sent before any AUTH: readable.
    assert lines[0] == "send: 'ehlo aloha.test\\r\\n'"
    assert lines[4] == "send: 'AUTH PLAIN %s\\r\\n'" % MASK
    assert lines[6] == "send: 'AUTH LOGIN %s\\r\\n'" % MASK
    # The answer to the 334 challenge: the whole sent string, quotes and CRLF kept.
    assert lines[9] == "send: '%s\\r\\n'" % MASK
    # Mechanism lists, the challenge prompt, and what is sent after the
    # exchange ended (235) stay readable.
    assert lines[2] == "reply: b'250 AUTH PLAIN LOGIN\\r\\n'"
    assert lines[3] == TRANSCRIPT.split("\n")[3]
    assert "UGFzc3dvcmQ6" in lines[7]
    assert lines[12] == "send: 'mail FROM:<support@aloha.test>\\r\\n'"
    assert lines[13].endswith("send: b'data-line-after-auth\\r\\n'")


def test_auth_argument_outside_a_transcript_line_is_masked_unless_a_mechanism():
    assert scrub("server said: AUTH PLAIN AHVzZXIAcGFzcw==", []) == "server said: AUTH PLAIN " + MASK
    # On a sent line, the command in any case is still the command.
    assert scrub("send: 'auth plain AHVzZXIAcGFzcw==\\r\\n'", []) == "send: 'auth plain %s\\r\\n'" % MASK
    assert scrub("250-AUTH PLAIN LOGIN CRAM-MD5", []) == "250-AUTH PLAIN LOGIN CRAM-MD5"
    assert scrub("AUTH XOAUTH2 =", []) == "AUTH XOAUTH2 " + MASK


def test_unpadded_base64_only_for_values_long_enough():
    # "abcdef" -> YWJjZGVm (8 characters, no padding): masked;
    # "ab" -> YWI= : the padded form only, "YWI" alone is a common fragment.
    assert scrub("x YWJjZGVm y", ["abcdef"]) == "x %s y" % MASK
    assert scrub("YWIx", ["ab"]) == "YWIx"
    assert scrub("YWI=", ["ab"]) == MASK
    # 5 bytes -> "aGVsbG8=" (7 without padding): too short alone.
    assert scrub("aGVsbG8", ["hello"]) == "aGVsbG8"


# A secret whose printed forms all differ: a non-ASCII letter (JSON's \u
# escape, the two byte encodings), both quotes, a backslash, a tab, a slash
# (quote() keeps it by default) and a space (quote_plus makes it "+"). The
# role refuses such a password, but scrub also masks other secrets (keys,
# values the caller passes), so each form is its own.
DISTINCT = "p\u00e4\"'\\\t/ +"
DISTINCT_FORMS = [
    DISTINCT,
    'p\u00e4"\\\'\\\\\\t/ +',              # str repr
    'p\u00e4\\"\'\\\\\t/ +',               # double-quoted (backslash and " escaped)
    'p\u00e4"\\\'\\\\\t/ +',               # single-quoted with backslash escapes
    'p\\u00e4\\"\'\\\\\\t/ +',             # JSON
    'p\u00e4\\"\'\\\\\\t/ +',              # JSON, ensure_ascii=False
    'p\u00e4"\'\'\\\t/ +',                 # YAML single-quoted
    "p%C3%A4%22%27%5C%09%2F%20%2B",        # quote(safe="")
    "p%C3%A4%22%27%5C%09%2F+%2B",          # quote_plus
    "p%C3%A4%22%27%5C%09/%20%2B",          # quote(), "/" kept
    "p%c3%a4%22%27%5c%09%2f%20%2b",        # the same URLs in lower case
    "p%c3%a4%22%27%5c%09%2f+%2b",
    "p%c3%a4%22%27%5c%09/%20%2b",
    'p\\xc3\\xa4"\\\'\\\\\\t/ +',          # UTF-8 bytes repr
    'p\\xe4"\\\'\\\\\\t/ +',               # latin-1 bytes repr
]


def test_each_printed_form_of_a_secret_is_masked_when_all_differ():
    assert len(set(DISTINCT_FORMS)) == len(DISTINCT_FORMS)
    for form in DISTINCT_FORMS:
        out = scrub("<%s>" % form, [DISTINCT])
        assert out == "<%s>" % MASK, (form, out)


def test_auth_plain_with_empty_user_parts_is_masked():
    # "\0\0password": AUTH PLAIN from a client that sends no user name.
    assert scrub("echo: %s" % b64("\0\0" + PASSWORD), [PASSWORD]) == "echo: " + MASK


def test_auth_plain_blob_is_masked_when_the_user_is_only_among_the_secrets():
    # The caller did not say which value is the login: every ordered pair,
    # including the login given first.
    blob = b64("\0%s\0%s" % (USER, PASSWORD))
    assert scrub("535 %s" % blob, [USER, PASSWORD]) == "535 " + MASK


def test_bytes_that_are_not_utf8_are_replaced_not_refused():
    assert scrub(b"\xff " + PASSWORD.encode(), [PASSWORD]) == "\ufffd " + MASK
