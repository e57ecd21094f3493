"""scrub(text, secrets, user): every form of the secrets masked, the login
user's base64 forms masked, the plain user readable (issue 10)."""

from __future__ import annotations

import base64
import json
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
