"""Tests of the settings.py section rewriter, on the pure function and
through Ansible itself."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "roles/aloha_email/library"))
import aloha_settings_section as mod  # noqa: E402
from conftest import INPROCESS, run_module_inprocess  # noqa: E402

TITLE = "Outgoing email (SMTP) settings."
MANAGED = ["EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_HOST_USER"]
SEED = '''# Aloha settings.
################
## Mandatory settings.
##
aloha_ADMINISTRATOR = "support@aloha.test"
EXTERNAL_HOST = "chat.aloha.test"

################
## Outgoing email (SMTP) settings.
##
## EMAIL_HOST and EMAIL_HOST_USER are generally required.
# EMAIL_HOST = "smtp.example.com"
# EMAIL_HOST_USER = ""
EMAIL_TIMEOUT_NOTE = "operator line"  # kept

################
## Email gateway integration.
##
# EMAIL_GATEWAY_PATTERN = ""

################
## Authentication settings.
##
AUTHENTICATION_BACKENDS = (
    "aloha.backends.EmailAuthBackend",
)
EMAIL_PORT = 25  # an operator override, later in the file
RATE_LIMITING = True
'''
SECTION = '''################
## Outgoing email (SMTP) settings.
##
## Managed.

EMAIL_HOST = "smtp.aloha.test"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
'''


def run(text, content=SECTION, managed=MANAGED):
    return mod.rewrite(text, "settings.py", TITLE, content, managed,
                       ["EMAIL_HOST_PASSWORD"], "Mandatory settings.")


def exec_settings(text):
    scope = {}
    exec(compile(text, "settings.py", "exec"), scope)
    return scope


def test_replaces_only_the_section_and_keeps_the_rest():
    new, disabled = run(SEED)
    assert disabled == [27]
    before, after = SEED.split("################\n## Email gateway")
    assert new.startswith(SEED.split("################\n## Outgoing")[0])
    assert "################\n## Email gateway" + after.replace(
        "EMAIL_PORT = 25  # an operator override, later in the file\n",
        mod.DISABLED_NOTE.format(name="EMAIL_PORT", title=TITLE[:-1]) + "\n"
        "# EMAIL_PORT = 25  # an operator override, later in the file\n") in new
    scope = exec_settings(new)
    assert scope["EMAIL_PORT"] == 587
    assert scope["EMAIL_HOST"] == "smtp.aloha.test"
    # The operator's own statement in the section survives.
    assert scope["EMAIL_TIMEOUT_NOTE"] == "operator line"
    assert '# EMAIL_HOST = "smtp.example.com"' not in new


def test_second_run_changes_nothing():
    new, _ = run(SEED)
    again, disabled = run(new)
    assert again == new
    assert disabled == []


def test_missing_section_goes_after_mandatory_settings():
    text = SEED.replace(SEED[SEED.index("################\n## Outgoing"):SEED.index("################\n## Email gateway")], "")
    new, _ = run(text)
    assert new.index("## Mandatory settings.") < new.index("## Outgoing email") < new.index("## Email gateway")
    assert run(new)[0] == new


def test_file_without_sections_gets_it_at_the_end():
    new, _ = run("FOO = 1\n")
    assert new.startswith("FOO = 1\n\n################\n## Outgoing email")
    assert exec_settings(new)["EMAIL_PORT"] == 587


def test_multiline_override_is_fully_commented_out():
    text = SEED + 'EMAIL_HOST = (\n    "other.example.com"\n)\n'
    new, _ = run(text)
    assert exec_settings(new)["EMAIL_HOST"] == "smtp.aloha.test"
    assert '#     "other.example.com"' in new


def test_refuses_a_password_in_settings():
    with pytest.raises(mod.SettingsError, match="EMAIL_HOST_PASSWORD on line 29.*aloha_email_password"):
        run(SEED + 'EMAIL_HOST_PASSWORD = "abcd1234"\n')


def test_refuses_a_syntax_error():
    with pytest.raises(mod.SettingsError, match="syntax error at line 2"):
        run("A = 1\nB = (\n")


def test_refuses_content_that_does_not_compile():
    with pytest.raises(mod.SettingsError, match="would not compile"):
        run(SEED, content=SECTION + 'EMAIL_HOST_USER = "x\n')


def test_reports_literal_settings():
    import ast
    found = mod.literal_settings(ast.parse(SEED), ["aloha_ADMINISTRATOR", "EXTERNAL_HOST"])
    assert found == {"aloha_ADMINISTRATOR": "support@aloha.test", "EXTERNAL_HOST": "chat.aloha.test"}


# The venv's ansible next to the Python running the tests, so the tests
# pass without the venv on PATH.
ANSIBLE = str(Path(sys.executable).parent / "ansible")
if not os.path.exists(ANSIBLE):
    ANSIBLE = shutil.which("ansible") or "ansible"


def ansible_module(tmp_path, args, check=False, diff=False):
    if INPROCESS:
        return run_module_inprocess(tmp_path, "aloha_settings_section", args, check=check, diff=diff)[1]
    cmd = [ANSIBLE, "localhost", "-m", "aloha_settings_section", "-a", json.dumps(args)]
    cmd += ["--check"] * check + ["--diff"] * diff
    env = dict(os.environ, ANSIBLE_LIBRARY=str(ROOT / "roles/aloha_email/library"),
               ANSIBLE_MODULE_UTILS=str(ROOT / "roles/aloha_email/module_utils"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_check_mode_writes_nothing_and_real_run_is_atomic(tmp_path):
    path = tmp_path / "settings.py"
    path.write_text(SEED)
    path.chmod(0o600)
    args = dict(path=str(path), content=SECTION, managed_names=MANAGED, mode="0644")
    res = ansible_module(tmp_path, args, check=True, diff=True)
    assert res["changed"] is True and res["needs_change"] is True
    assert path.read_text() == SEED
    assert "EMAIL_PORT = 587" in res["diff"]["after"]
    res = ansible_module(tmp_path, args)
    assert res["changed"] is True and res["disabled"] == [27]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert exec_settings(path.read_text())["EMAIL_PORT"] == 587
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".settings")] == []
    res = ansible_module(tmp_path, args)
    assert res["changed"] is False and res["needs_change"] is False
    # A mode that differs is a change too (the role skips the write when
    # the dry run's needs_change is false).
    path.chmod(0o600)
    res = ansible_module(tmp_path, args, check=True)
    assert res["needs_change"] is True and path.read_text().count("EMAIL_PORT = 587") == 1


def test_module_fails_on_missing_file(tmp_path):
    res = ansible_module(tmp_path, dict(path=str(tmp_path / "nope.py"), content=SECTION, managed_names=MANAGED))
    assert res["failed"] is True
    assert "does not exist" in res["msg"] and "aloha_email_config_dir" in res["msg"]


def test_module_reports_what_it_did_and_the_settings(run_module, tmp_path):
    path = tmp_path / "settings.py"
    path.write_text(SEED)
    args = dict(path=str(path), content=SECTION, managed_names=MANAGED)
    _, res = run_module("aloha_settings_section", args, check=True, diff=True)
    assert (res["diff"]["before_header"], res["diff"]["after_header"]) == (str(path), str(path))
    assert res["diff"]["before"] == SEED and res["diff"]["after"] != SEED
    _, res = run_module("aloha_settings_section", args)
    assert res["msg"] == "section rewritten; disabled overriding assignments on lines [27]"
    assert res["settings"] == {"aloha_ADMINISTRATOR": "support@aloha.test", "EXTERNAL_HOST": "chat.aloha.test"}
    _, res = run_module("aloha_settings_section", args)
    assert (res["changed"], res["msg"]) == (False, "section up to date")
    assert res["settings"] == {"aloha_ADMINISTRATOR": "support@aloha.test", "EXTERNAL_HOST": "chat.aloha.test"}
    # Nothing to disable: the message says only that.
    path.write_text(SEED.replace("EMAIL_PORT = 25  # an operator override, later in the file\n", ""))
    _, res = run_module("aloha_settings_section", args)
    assert (res["changed"], res["msg"]) == (True, "section rewritten")


@pytest.mark.parametrize("missing", ["path", "content", "managed_names"])
def test_module_requires_path_content_and_names(run_module, tmp_path, missing):
    path = tmp_path / "settings.py"
    path.write_text(SEED)
    args = dict(path=str(path), content=SECTION, managed_names=MANAGED)
    del args[missing]
    _, res = run_module("aloha_settings_section", args)
    assert res["failed"] is True and res["msg"] == "missing required arguments: %s" % missing
    assert path.read_text() == SEED


def test_module_refuses_a_password_by_default(run_module, tmp_path):
    path = tmp_path / "settings.py"
    path.write_text(SEED + 'EMAIL_HOST_PASSWORD = "abcd1234"\n')
    _, res = run_module("aloha_settings_section", dict(path=str(path), content=SECTION, managed_names=MANAGED))
    assert res["failed"] is True and "EMAIL_HOST_PASSWORD on line 29" in res["msg"]


def test_module_inserts_a_missing_section_after_the_mandatory_settings(run_module, tmp_path):
    path = tmp_path / "settings.py"
    text = ("################\n## Mandatory settings.\n##\nEXTERNAL_HOST = 'chat.aloha.test'\n\n"
            "################\n## Authentication settings.\n##\nRATE_LIMITING = True\n")
    path.write_text(text)
    _, res = run_module("aloha_settings_section", dict(path=str(path), content=SECTION, managed_names=MANAGED))
    assert res["changed"] is True
    new = path.read_text()
    assert new.index("EXTERNAL_HOST") < new.index("## Outgoing email") < new.index("## Authentication")


def test_module_path_expands_variables(run_module, tmp_path, monkeypatch):
    path = tmp_path / "settings.py"
    path.write_text(SEED)
    monkeypatch.setenv("ALOHA_UNIT_CONF", str(tmp_path))
    _, res = run_module("aloha_settings_section", dict(path="$ALOHA_UNIT_CONF/settings.py", content=SECTION,
                                                       managed_names=MANAGED))
    assert res["changed"] is True and exec_settings(path.read_text())["EMAIL_PORT"] == 587
