"""aloha_email_facts: the settings Aloha really uses (ast, last assignment
wins), the inferred mode, and whether a password is set, never its value."""

import json

import pytest

import aloha_email_facts as facts

SETTINGS = '''\
from typing import Any
aloha_ADMINISTRATOR = "support@aloha.test"
EXTERNAL_HOST = "chat.aloha.test:8443"

################
## Outgoing email (SMTP) settings.
EMAIL_HOST = "smtp.aloha.test"
EMAIL_HOST_USER = "aloha@aloha.test"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
# EMAIL_PORT = 2525

## Added by ops, after the section: in Python the last assignment wins.
EMAIL_PORT: int = 465
EMAIL_USE_SSL = True
def f():
    EMAIL_HOST = "not-top-level"
'''


def test_last_top_level_assignment_wins():
    values, problems = facts.read_settings(SETTINGS)
    assert problems == []
    assert values["EMAIL_PORT"] == 465
    assert values["EMAIL_HOST"] == "smtp.aloha.test"
    assert values["EMAIL_USE_SSL"] is True
    eff = facts.effective(values)
    assert eff["mode"] == "smtp"
    assert (eff["port"], eff["use_tls"], eff["use_ssl"]) == (465, True, True)
    # Defaults from EXTERNAL_HOST without its port.
    assert eff["noreply_address"] == "noreply@chat.aloha.test"
    assert eff["tokenized_noreply_address"] == "noreply-{token}@chat.aloha.test"
    assert eff["add_tokens"] is True


@pytest.mark.parametrize("text, mode", [
    ('EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"\nEMAIL_HOST = "x.example"\n', "file"),
    ('EMAIL_HOST = "localhost"\nEMAIL_PORT = 25\n', "local"),
    ('EMAIL_HOST = "127.0.0.1"\n', "local"),
    ('EMAIL_HOST = "localhost"\nEMAIL_PORT = 587\n', "smtp"),
    ('EMAIL_HOST = "smtp.mailgun.org"\nEMAIL_PORT = 587\n', "smtp"),
    ('# EMAIL_HOST = "smtp.example.com"\n', "none"),
    ('EMAIL_BACKEND = "some.other.Backend"\n', "backend"),
])
def test_mode_is_inferred_like_the_how_to(text, mode):
    values, _ = facts.read_settings(text)
    assert facts.effective(values)["mode"] == mode


def test_non_literal_and_unparsable_values_are_reported():
    values, problems = facts.read_settings('import os\nEMAIL_HOST = os.environ["X"]\n')
    assert values == {"EMAIL_HOST": None}
    assert "EMAIL_HOST on line 2 is not a literal" in problems[0]
    values, problems = facts.read_settings("EMAIL_HOST = (\n")
    assert values == {}
    assert "does not parse" in problems[0]


def test_settings_are_never_executed(tmp_path):
    marker = tmp_path / "ran"
    values, _ = facts.read_settings('open(%r, "w")\nEMAIL_HOST = "a.example"\n' % str(marker))
    assert values["EMAIL_HOST"] == "a.example"
    assert not marker.exists()


@pytest.mark.parametrize("text, is_set", [
    ("[secrets]\nsecret_key = k\nemail_password = abc;#'d\n", True),
    ("[secrets]\nsecret_key = k\nEMAIL_PASSWORD: x\n", True),
    ("[secrets]\nsecret_key = k\nemail_password =\n", False),
    ("[secrets]\nsecret_key = k\n", False),
    ("[other]\nemail_password = x\n", False),
])
def test_password_set(tmp_path, text, is_set):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text(text)
    assert facts.read_password(str(path))[:2] == (is_set, None)


def test_password_matches_without_revealing(tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("[secrets]\nemail_password = s3cret%x\n")
    assert facts.read_password(str(path), "s3cret%x")[:2] == (True, True)
    assert facts.read_password(str(path), "other")[:2] == (True, False)


def test_broken_secrets_file_is_reported_without_its_content(tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("[secrets]\nemail_password = TopSecret1\nemail_password = TopSecret2\n")
    is_set, matches, problem = facts.read_password(str(path))
    assert (is_set, matches) == (None, None)
    assert "DuplicateOptionError" in problem
    assert "TopSecret" not in problem
    assert facts.read_password(str(tmp_path / "missing"))[0] is None


def test_module_through_ansible_never_prints_the_password(run_module, tmp_path):
    conf = tmp_path / "etc-aloha"
    conf.mkdir()
    (conf / "settings.py").write_text(SETTINGS)
    (conf / "aloha-secrets.conf").write_text("[secrets]\nemail_password = Very-Secret-42\n")
    proc, result = run_module("aloha_email_facts",
                              {"config_dir": str(conf), "expected_password": "{{ pw }}"},
                              secrets={"pw": "Very-Secret-42"}, check=True, verbosity=3)
    assert result["changed"] is False
    assert result["password_set"] is True
    assert result["password_matches"] is True
    assert result["effective"]["mode"] == "smtp"
    assert result["settings"]["EMAIL_PORT"] == 465
    assert "Very-Secret-42" not in proc.stdout + proc.stderr
    assert "Very-Secret-42" not in json.dumps(result)


EVERY_NAME = {
    "aloha_ADMINISTRATOR": "support@aloha.test",
    "EXTERNAL_HOST": "chat.aloha.test",
    "EMAIL_HOST": "smtp.aloha.test",
    "EMAIL_HOST_USER": "aloha@aloha.test",
    "EMAIL_PORT": 587,
    "EMAIL_USE_TLS": True,
    "EMAIL_USE_SSL": False,
    "NOREPLY_EMAIL_ADDRESS": "noreply@aloha.test",
    "ADD_TOKENS_TO_NOREPLY_ADDRESS": False,
    "TOKENIZED_NOREPLY_EMAIL_ADDRESS": "noreply-{token}@aloha.test",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_FILE_PATH": "/var/log/aloha/emails",
}


def test_every_setting_the_facts_report_is_read():
    """Each name the module reports, read from settings.py by that exact
    name (a misspelt name in the module's list would read nothing)."""
    text = "".join("%s = %r\n" % (name, value) for name, value in EVERY_NAME.items())
    values, unknown, problems = facts.analyse(text)
    assert (unknown, problems) == ([], [])
    assert values == EVERY_NAME
    assert set(facts.NAMES) == set(EVERY_NAME)
