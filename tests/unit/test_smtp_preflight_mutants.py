"""aloha_smtp_preflight's messages and result in full, and the renaming of
the fix's variables: written for issue 13, each test kills mutants that
test_aloha_smtp_preflight.py let survive (a message checked by one word)."""

from __future__ import annotations

import aloha_smtp_preflight
from test_aloha_smtp_preflight import ADMIN, PASSWORD, RECIPIENT, USER, preflight


def test_rename_variables_renames_the_longest_name_first():
    # A phrase that holds a shorter name is renamed whole, whatever the
    # lengths of the new names.
    names = {"the vault password aloha_email_password": "P",
             "aloha_email_password": "aloha_email_local_relay_password"}
    text = "check the vault password aloha_email_password, or aloha_email_password alone"
    assert aloha_smtp_preflight.rename_variables(text, names) == (
        "check P, or aloha_email_local_relay_password alone")


def test_one_sender_passed_is_worded_in_the_singular(run_module, smtp_server):
    port, _ = smtp_server(accounts={USER: PASSWORD})
    proc, result = preflight(run_module, port, senders=[ADMIN, " ", ADMIN])
    assert proc.returncode == 0, result
    assert result["msg"] == "SMTP preflight passed: 127.0.0.1:%d (plain) accepted 1 sender for %s" % (
        port, RECIPIENT)
    assert result["senders"] == [ADMIN] and result["recipient"] == RECIPIENT


def test_no_sender_is_refused_before_connecting(run_module, closed_port):
    proc, result = preflight(run_module, closed_port, senders=["", " "])
    assert result["failed"] is True
    assert result["msg"] == "SMTP preflight: no sender to check (senders is empty)"
    # The result keeps its shape: what was checked, and an empty transcript.
    assert (result["senders"], result["recipient"], result["transcript"]) == ([], RECIPIENT, [])


def test_no_recipient_message_names_the_variable(run_module, closed_port):
    proc, result = preflight(run_module, closed_port, recipient=" ")
    assert result["failed"] is True
    assert result["msg"] == ("SMTP preflight: no recipient: set aloha_email_test_recipient "
                             "(or aloha_ADMINISTRATOR in settings.py)")
    assert result["recipient"] == "" and result["transcript"] == []


def test_tls_and_ssl_message_in_full(run_module, closed_port):
    proc, result = preflight(run_module, closed_port, use_tls=True, use_ssl=True)
    assert result["failed"] is True and result["cause"] == "tls_and_ssl"
    assert result["fix"].startswith("aloha_email_use_tls and aloha_email_use_ssl are both true")
    assert result["msg"] == ("SMTP preflight failed (tls_and_ssl): EMAIL_USE_TLS and EMAIL_USE_SSL are both true. "
                             "Fix: %s" % result["fix"])
    assert result["transcript"] == []
