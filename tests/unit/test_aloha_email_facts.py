"""aloha_email_facts: the settings Aloha really uses (ast, last assignment
wins), the inferred mode, and whether a password is set, never its value."""

import json
import os
import sys

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


@pytest.mark.parametrize("text, kept", [
    ("[machine]\ndeploy_type = production\n\n[postfix]\nuninstall = false\n", True),
    ("[postfix]\nuninstall = No\n", True),
    ("[postfix]\nuninstall = true\n", False),
    ("[postfix]\nmailname = chat.example.com\n", False),
    ("[machine]\ndeploy_type = production\n", False),
    ("[other]\nuninstall = false\n", False),
])
def test_postfix_kept_across_upgrades(tmp_path, text, kept):
    path = tmp_path / "aloha.conf"
    path.write_text(text)
    assert facts.read_postfix_kept(str(path)) == (kept, None)


def test_postfix_kept_without_or_with_a_broken_aloha_conf(tmp_path):
    assert facts.read_postfix_kept(str(tmp_path / "missing")) == (False, None)
    path = tmp_path / "aloha.conf"
    path.write_text("uninstall = false\n")
    kept, problem = facts.read_postfix_kept(str(path))
    assert kept is None and "MissingSectionHeaderError" in problem


@pytest.mark.ansible_cli
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
    assert result["postfix_kept"] is False  # no aloha.conf: the installer's default, uninstall
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


def test_effective_values_from_every_setting():
    values = dict(EVERY_NAME, EXTERNAL_HOST="chat.aloha.test:8443")
    assert facts.effective(values) == dict(
        host="smtp.aloha.test", host_user="aloha@aloha.test", port=587, use_tls=True, use_ssl=False,
        backend="django.core.mail.backends.smtp.EmailBackend", file_path="/var/log/aloha/emails",
        administrator="support@aloha.test", noreply_address="noreply@aloha.test", add_tokens=False,
        tokenized_noreply_address="noreply-{token}@aloha.test", mode="backend")


def test_effective_defaults_are_the_servers():
    assert facts.effective({"EXTERNAL_HOST": "chat.aloha.test:8443", "EMAIL_HOST": "smtp.aloha.test"}) == dict(
        host="smtp.aloha.test", host_user="", port=25, use_tls=False, use_ssl=False, backend=None,
        file_path=None, administrator=None, noreply_address="noreply@chat.aloha.test", add_tokens=True,
        tokenized_noreply_address="noreply-{token}@chat.aloha.test", mode="smtp")
    assert facts.effective({"EXTERNAL_HOST": "chat.aloha.test"})["noreply_address"] == "noreply@chat.aloha.test"


@pytest.mark.parametrize("name, field", [
    ("EMAIL_HOST", "host"), ("EMAIL_HOST_USER", "host_user"), ("EMAIL_PORT", "port"),
    ("EMAIL_USE_TLS", "use_tls"), ("EMAIL_USE_SSL", "use_ssl"), ("EMAIL_BACKEND", "backend"),
    ("EMAIL_FILE_PATH", "file_path"), ("aloha_ADMINISTRATOR", "administrator"),
    ("NOREPLY_EMAIL_ADDRESS", "noreply_address"), ("ADD_TOKENS_TO_NOREPLY_ADDRESS", "add_tokens"),
    ("TOKENIZED_NOREPLY_EMAIL_ADDRESS", "tokenized_noreply_address"),
])
def test_a_value_that_cannot_be_decided_is_none_never_a_default(name, field):
    eff = facts.effective(dict(EVERY_NAME), unknown=[name])
    assert eff[field] is None
    others = facts.effective(dict(EVERY_NAME))
    assert {k: v for k, v in eff.items() if k not in (field, "mode")} == \
        {k: v for k, v in others.items() if k not in (field, "mode")}
    assert eff["mode"] == ("unknown" if name in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_BACKEND") else others["mode"])


def test_unknown_external_host_leaves_the_derived_addresses_undecided():
    eff = facts.effective({"EMAIL_HOST": "smtp.aloha.test"}, unknown=["EXTERNAL_HOST"])
    assert (eff["noreply_address"], eff["tokenized_noreply_address"]) == (None, None)
    eff = facts.effective({"EMAIL_HOST": "smtp.aloha.test", "NOREPLY_EMAIL_ADDRESS": "n@aloha.test"},
                          unknown=["EXTERNAL_HOST"])
    assert (eff["noreply_address"], eff["tokenized_noreply_address"]) == ("n@aloha.test", None)


@pytest.mark.parametrize("values, mode", [
    ({"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}, "file"),
    ({"EMAIL_HOST": "localhost", "EMAIL_PORT": 25}, "local"),
    ({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": 25}, "local"),
    ({"EMAIL_HOST": "::1", "EMAIL_PORT": 25}, "local"),
    ({"EMAIL_HOST": "LOCALHOST"}, "local"),
    ({"EMAIL_HOST": "localhost", "EMAIL_PORT": 587}, "smtp"),
    ({}, "none"),
])
def test_modes(values, mode):
    assert facts.effective(values)["mode"] == mode


def test_unparsable_settings_name_the_line():
    values, unknown, problems = facts.analyse("A = 1\nB = (\n", "settings.py")
    assert (values, unknown) == ({}, [])
    assert len(problems) == 1 and problems[0].startswith("settings.py does not parse: ")
    assert "(line 2)" in problems[0]
    assert facts.read_settings("EMAIL_PORT = 2525\n") == ({"EMAIL_PORT": 2525}, [])
    assert facts._syntax("A = 1\n", "s.py") == "unknown error"


def test_secrets_file_problems_name_the_kind_only(tmp_path):
    missing = tmp_path / "nope.conf"
    assert facts.read_password(str(missing)) == (None, None, "%s does not exist" % missing)
    broken = tmp_path / "broken.conf"
    broken.write_text("no header = s3cret\n")
    is_set, matches, problem = facts.read_password(str(broken))
    assert (is_set, matches) == (None, None)
    assert problem == "%s is not a valid secrets file (MissingSectionHeaderError): Aloha would not start" % broken
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"[secrets]\nemail_password = \xff\xfe\n")
    assert facts.read_password(str(binary)) == (None, None, "%s cannot be read: UnicodeDecodeError" % binary)


@pytest.mark.parametrize("word", ["0", "n", "no", "f", "false", "off", "disable", "disabled", " OFF ", "Disabled"])
def test_every_word_the_installer_reads_as_false_keeps_postfix(tmp_path, word):
    path = tmp_path / "aloha.conf"
    path.write_text("[postfix]\nuninstall = %s\n" % word)
    assert facts.read_postfix_kept(str(path)) == (True, None)


@pytest.mark.parametrize("word", ["1", "yes", "true", "on", "enable", "nope"])
def test_any_other_word_is_true_for_the_installer(tmp_path, word):
    path = tmp_path / "aloha.conf"
    path.write_text("[postfix]\nuninstall = %s\n" % word)
    assert facts.read_postfix_kept(str(path)) == (False, None)


def test_a_broken_aloha_conf_is_named_with_the_error_kind(tmp_path):
    path = tmp_path / "aloha.conf"
    path.write_text("uninstall = false\n")
    assert facts.read_postfix_kept(str(path)) == (
        None, "%s does not parse (MissingSectionHeaderError): Aloha's installer would fail" % path)


def test_syntax_problems_in_full():
    # SyntaxError gives its message and line; a null byte (a ValueError on
    # Python 3.11) has no line.
    assert facts.analyse("A = 1\nB = (\n") == ({}, [], ["settings.py does not parse: '(' was never closed (line 2)"])
    assert facts.read_settings("B = (\n") == ({}, ["settings.py does not parse: '(' was never closed (line 1)"])
    assert facts.analyse("A = 1\x00\n")[2] == [
        "settings.py does not parse: source code string cannot contain null bytes (line %s)"
        % ("?" if sys.version_info < (3, 12) else 1)]


def test_the_noreply_domain_drops_only_the_port():
    assert facts.effective({"EXTERNAL_HOST": "[::1]:9991"})["noreply_address"] == "noreply@[::1]"
    assert facts.effective({"EXTERNAL_HOST": "chat.aloha.test:443"})["noreply_address"] == "noreply@chat.aloha.test"


def test_module_reads_the_files_of_its_config_dir(run_module, tmp_path):
    (tmp_path / "settings.py").write_text("EXTERNAL_HOST = 'chat.aloha.test'\n")
    (tmp_path / "aloha.conf").write_text("[postfix]\nuninstall = false\n")
    proc, result = run_module("aloha_email_facts", dict(config_dir=str(tmp_path)))
    assert result["postfix_kept"] is True, proc.stdout
    assert result["settings"]["EXTERNAL_HOST"] == "chat.aloha.test"
    (tmp_path / "settings.py").unlink()
    proc, result = run_module("aloha_email_facts", dict(config_dir=str(tmp_path)))
    assert result["msg"] == "Cannot read %s: No such file or directory" % (tmp_path / "settings.py")


def test_module_defaults_to_etc_aloha(run_module):
    # This controller has no /etc/aloha: the default is read, and named.
    assert not os.path.exists("/etc/aloha")
    proc, result = run_module("aloha_email_facts", dict(expected_password="x"))
    assert result["msg"] == "Cannot read /etc/aloha/settings.py: No such file or directory", proc.stdout
