"""Variables set to their non-default values, each shown where it acts:
provider presets (host, port, TLS/SSL, the Gmail warning) in a
`--check --diff` run that contacts no provider; the noreply and tokenized
senders as the senders of the test emails the SMTP server received; the
file backend and its path; another configuration directory, group and
deployment path; and secure logging off at -vvv, still without a secret.
tests/variables.yml maps every variable to its tests."""

import re

import pytest

from alohatest import (ALOHA_FILES, TOKENIZED, clear_messages, file_digests, host, host_names, messages,
                       messages_for, password_forms, run_role, set_smtp_password, task_output, vault_password)

TARGET = host_names("aloha")[0]
DOMAIN = "%s.aloha.test" % TARGET


@pytest.fixture()
def restore():
    """Each test leaves the host on the scenario's working configuration."""
    before = file_digests(TARGET)
    yield before
    proc = run_role(TARGET, {})
    assert proc.returncode == 0, proc.stdout
    assert file_digests(TARGET) == before


@pytest.mark.parametrize("extra, host_port_tls", [
    ({"aloha_email_provider": "mailgun"}, ("smtp.mailgun.org", 587, "EMAIL_USE_TLS = True")),
    ({"aloha_email_provider": "sendgrid"}, ("smtp.sendgrid.net", 587, "EMAIL_USE_TLS = True")),
    ({"aloha_email_provider": "ses", "aloha_email_ses_region": "eu-west-1"},
     ("email-smtp.eu-west-1.amazonaws.com", 587, "EMAIL_USE_TLS = True")),
    ({"aloha_email_provider": "gmail"}, ("smtp.gmail.com", 587, "EMAIL_USE_TLS = True")),
    ({"aloha_email_provider": "mailgun", "aloha_email_port": 465, "aloha_email_use_tls": False,
      "aloha_email_use_ssl": True}, ("smtp.mailgun.org", 465, "EMAIL_USE_SSL = True")),
])
def test_provider_preset_sets_host_port_and_tls(extra, host_port_tls):
    """Check mode with the preflight off: the provider is never contacted."""
    before = file_digests(TARGET)
    proc = run_role(TARGET, dict(extra, aloha_email_host="", aloha_email_preflight=False), check=True, diff=True)
    assert proc.returncode == 0, proc.stdout
    name, port, tls = host_port_tls
    assert '+EMAIL_HOST = "%s"' % name in proc.stdout
    assert ("+EMAIL_PORT = %d" % port in proc.stdout) == (port != 587)
    assert ("+" + tls in proc.stdout) == (tls != "EMAIL_USE_TLS = True")
    assert ("WARNING: Gmail allows only about 100 emails a day" in proc.stdout) == (
        extra["aloha_email_provider"] == "gmail")
    assert file_digests(TARGET) == before


def test_cleartext_login_only_when_allowed():
    """A login without TLS is refused (hardening's bad-input case); allowed,
    it passes the checks, shown in check mode without contacting a server."""
    before = file_digests(TARGET)
    proc = run_role(TARGET, {"aloha_email_port": 25, "aloha_email_use_tls": False, "aloha_email_preflight": False,
                             "aloha_email_allow_cleartext_login": True}, check=True, diff=True)
    assert proc.returncode == 0, proc.stdout
    assert "+EMAIL_PORT = 25" in proc.stdout and "+EMAIL_USE_TLS = False" in proc.stdout
    assert file_digests(TARGET) == before


def test_ses_without_region_is_refused_before_any_change():
    before = file_digests(TARGET)
    proc = run_role(TARGET, {"aloha_email_provider": "ses", "aloha_email_host": ""})
    assert proc.returncode != 0
    assert "aloha_email_ses_region" in proc.stdout
    assert file_digests(TARGET) == before


def test_fixed_noreply_address_sends_the_noreply_test_email(restore):
    clear_messages()
    address = "noreply@mail.%s" % DOMAIN
    proc = run_role(TARGET, {"aloha_email_noreply_address": address,
                             "aloha_email_add_tokens_to_noreply_address": False})
    assert proc.returncode == 0, proc.stdout
    senders = [m["mail_from"] for m in messages_for(messages(), TARGET)]
    assert senders == ["support@aloha.test", address]


def test_tokenized_noreply_address_sends_the_noreply_test_email(restore):
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_tokenized_noreply_address": "noreply-{token}@mail.%s" % DOMAIN})
    assert proc.returncode == 0, proc.stdout
    admin, noreply = [m["mail_from"] for m in messages_for(messages(), TARGET)]
    assert admin == "support@aloha.test"
    assert re.fullmatch(TOKENIZED.pattern + re.escape("mail.%s" % DOMAIN), noreply), noreply


def test_file_backend_path_and_backend(restore):
    h = host(TARGET)
    path = "/var/log/aloha/outbox"
    h.run("rm -rf %s" % path)
    proc = run_role(TARGET, {"aloha_email_mode": "file", "aloha_email_file_path": path})
    assert proc.returncode == 0, proc.stdout
    d = h.file(path)
    assert d.is_directory and (d.user, d.mode) == ("aloha", 0o750)
    assert "Subject: Aloha noreply email test" in h.check_output("cat %s/*.log" % path)
    # Another backend class, shown in check mode.
    proc = run_role(TARGET, {"aloha_email_mode": "file", "aloha_email_file_path": path,
                             "aloha_email_file_backend": "django.core.mail.backends.locmem.EmailBackend"},
                    check=True, diff=True)
    assert proc.returncode == 0, proc.stdout
    assert '+EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"' in proc.stdout
    h.run("rm -rf %s" % path)


def test_group_and_deploy_path(restore):
    """The files get the operator's group (the aloha user is in it), and the
    role runs Aloha's commands from another deployment path."""
    h = host(TARGET)
    h.check_output("getent group aloha-cfg || groupadd aloha-cfg; usermod -a -G aloha-cfg aloha; "
                   "ln -sfn $(readlink /home/aloha/deployments/current) /home/aloha/deployments/next")
    try:
        proc = run_role(TARGET, {"aloha_email_group": "aloha-cfg",
                                 "aloha_email_deploy_path": "/home/aloha/deployments/next"})
        assert proc.returncode == 0, proc.stdout
        out = h.check_output("stat -c '%%G %%a' %s" % " ".join(ALOHA_FILES))
        assert out.splitlines() == ["aloha-cfg 644", "aloha-cfg 640"]
        manage = h.file("/var/log/aloha/manage.log").content_string.splitlines()[-1]
        assert "/home/aloha/deployments/next/manage.py send_test_email" in manage
    finally:
        h.run("rm -f /home/aloha/deployments/next")


def test_config_dir_elsewhere_in_check_mode():
    h = host(TARGET)
    h.check_output("rm -rf /srv/aloha-etc && cp -a /etc/aloha /srv/aloha-etc")
    try:
        before = file_digests(TARGET)
        proc = run_role(TARGET, {"aloha_email_config_dir": "/srv/aloha-etc", "aloha_email_port": 465,
                                 "aloha_email_use_tls": False, "aloha_email_use_ssl": True,
                                 "aloha_email_preflight": False}, check=True, diff=True)
        assert proc.returncode == 0, proc.stdout
        assert "+++ after: /srv/aloha-etc/settings.py" in proc.stdout
        assert "/etc/aloha/settings.py" not in proc.stdout
        assert file_digests(TARGET) == before
    finally:
        h.run("rm -rf /srv/aloha-etc")


def test_secure_logging_off_still_shows_no_secret(restore):
    """A new password, so the secrets file is written with its result shown
    at -vvv: the module masks every value, so no form of the password is
    in the output even then."""
    new = "N3w-pa55;word%x'q\"d"
    set_smtp_password(new)
    try:
        proc = run_role(TARGET, {"aloha_email_secure_logging": False, "aloha_email_password": new}, verbosity=3)
    finally:
        set_smtp_password(vault_password())
    assert proc.returncode == 0, proc.stdout
    write = task_output(proc.stdout, "Set email_password in aloha-secrets.conf.")
    assert "changed: [%s]" % TARGET in write
    assert "censored" not in write and "updated" in write
    for form in password_forms(new):
        assert form not in proc.stdout
