"""A sender refused at RCPT TO or at the end of DATA, as postfix, Exim
and Microsoft 365 word it, is a sender refusal with the how-to's fix, not
a recipient refusal (issue 10)."""

from __future__ import annotations

import re

import pytest

from ansible.module_utils.aloha_email_smtp import classify_failure

USER = "aloha@aloha.test"
GOOD = "right-password"
RECIPIENT = "ops@aloha.test"

POSTFIX = "553 5.7.1 <{sender}>: Sender address rejected: not owned by user %s" % USER
EXIM = "550-Verification failed for <{sender}>\r\n550 Sender verify failed"
M365 = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"


def send(fake_aloha, smtp_server, tokens=True, **behaviour):
    port, _ = smtp_server(accounts={USER: GOOD}, **behaviour)
    fake_aloha.configure(port=port, user=USER, password=GOOD, tokens=tokens)
    rc, out, err = fake_aloha.run(RECIPIENT)
    assert rc == 1
    return out + "\n" + err


@pytest.mark.parametrize("behaviour", [dict(rcpt_reply=POSTFIX), dict(rcpt_reply=EXIM),
                                       dict(data_reply=M365)], ids=["postfix", "exim", "m365"])
def test_sender_refused_late_as_real_servers_word_it(fake_aloha, smtp_server, behaviour):
    output = send(fake_aloha, smtp_server, **behaviour)
    cause, fix = classify_failure(output)
    assert cause == "sender_refused", output
    # The admin address went first and was refused first.
    assert "admin@aloha.test" in fix
    # A server that refuses every sender: admin@ is the first one refused.
    assert "allow this From address" in fix


@pytest.mark.parametrize("reply", [POSTFIX, EXIM], ids=["postfix", "exim"])
def test_tokenized_sender_refused_at_rcpt(reply):
    sender = "noreply-abcdefghijklmnopqrstuvwx@aloha.test"
    output = (
        "Failed to send mails: {'%s': (%s, b'%s')}\n\nFull SMTP log follows:\n"
        "send: 'mail FROM:<%s> size=300\\r\\n'\nreply: b'250 2.1.0 Ok\\r\\n'\n"
        "send: 'rcpt TO:<%s>\\r\\n'\n" % (
            RECIPIENT, reply[:3],
            re.sub(r"\r\n\d{3}[ -]", r"\\n", reply[4:]).replace("{sender}", sender),
            sender, RECIPIENT))
    cause, fix = classify_failure(output)
    assert cause == "sender_refused", output
    assert "refused the tokenized sender %s" % sender in fix
    assert "aloha_email_add_tokens_to_noreply_address: false" in fix


def test_m365_refuses_the_tokenized_sender_at_the_end_of_data():
    # The admin email went through; the noreply one is refused after DATA.
    output = (
        "Failed to send mails: (550, b'5.7.60 SMTP; Client does not have permissions "
        "to send as this sender')\n\nFull SMTP log follows:\n"
        "send: 'mail FROM:<admin@aloha.test> size=300\\r\\n'\nreply: b'250 2.1.0 Ok\\r\\n'\n"
        "send: 'mail FROM:<noreply-abcdefghijklmnopqrstuvwx@aloha.test> size=300\\r\\n'\n"
        "reply: b'250 2.1.0 Ok\\r\\n'\nsend: 'rcpt TO:<ops@aloha.test>\\r\\n'\n"
        "reply: b'250 2.1.5 Ok\\r\\n'\nsend: 'data\\r\\n'\nreply: b'354 go\\r\\n'\n"
        "reply: b'550 5.7.60 SMTP; Client does not have permissions to send as this sender\\r\\n'\n")
    cause, fix = classify_failure(output)
    assert cause == "sender_refused"
    assert "tokenized sender noreply-abcdefghijklmnopqrstuvwx@aloha.test" in fix


def test_plain_recipient_refusal_stays_recipient_refused(fake_aloha, smtp_server):
    output = send(fake_aloha, smtp_server,
                  rcpt_reply="550 5.1.1 <ops@aloha.test>: Recipient address rejected: User unknown")
    cause, fix = classify_failure(output)
    assert cause == "recipient_refused"
    assert RECIPIENT in fix


def test_preflight_sender_refused_at_rcpt(run_module, smtp_server):
    port, behaviour = smtp_server(accounts={USER: GOOD}, rcpt_reply=POSTFIX)
    proc, result = run_module("aloha_smtp_preflight", dict(
        host="127.0.0.1", port=port, user=USER, password="{{ pw }}",
        senders=["noreply-{token}@aloha.test"], recipient=RECIPIENT),
        secrets={"pw": GOOD})
    assert result["cause"] == "sender_refused", result["msg"]
    assert "aloha_email_add_tokens_to_noreply_address: false" in result["fix"]
    # The user is no secret: the server's reply stays readable.
    assert "not owned by user %s" % USER in result["msg"]
    assert "DATA" not in behaviour.commands


def test_send_test_email_keeps_the_login_user_readable(run_module, fake_aloha, smtp_server):
    port, _ = smtp_server(accounts={USER: GOOD}, rcpt_reply=POSTFIX)
    fake_aloha.configure(port=port, user=USER, password=GOOD)
    import conftest
    proc, result = run_module("aloha_send_test_email", dict(
        deploy_path=str(fake_aloha.deploy), user=conftest.CURRENT_USER, recipients=[RECIPIENT],
        secrets=["{{ pw }}"], login_user=USER), secrets={"pw": GOOD})
    assert result["cause"] == "sender_refused", result["msg"]
    assert "not owned by user %s" % USER in result["msg"]
    for line in result["stdout_lines"]:
        assert GOOD not in line


# postfix's replies when its milter does not answer (tempfail, reject).
MILTER = ["451 4.7.1 Service unavailable - try again later", "550 5.5.0 Service unavailable"]


@pytest.mark.parametrize("reply", MILTER, ids=["tempfail", "reject"])
def test_local_postfix_without_opendkim_names_opendkim(fake_aloha, smtp_server, reply):
    output = send(fake_aloha, smtp_server, rcpt_reply=reply)
    cause, fix = classify_failure(output, local_milter=True)
    assert cause == "dkim_milter_unavailable", output
    assert "systemctl status opendkim" in fix and "aloha_email_local_milter_default_action" in fix
    # Another server's "Service unavailable" is no OpenDKIM matter.
    assert classify_failure(output)[0] != "dkim_milter_unavailable"
