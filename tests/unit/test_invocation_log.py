"""A module's invocation is logged on the host (journal or syslog) with its
options. Ansible leaves a no_log option out of that line, but it logs a
dict option as its repr and masks a no_log suboption only where the secret
appears as written: a secret holding a quote is escaped in the repr
(`c\\'d`) and lands in the journal in full (found by the hardening
scenario's host-wide search). So every secret is a top-level no_log option."""

import json
import os
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

LIBRARY = Path(__file__).resolve().parents[2] / "roles/aloha_email/library"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.py"))
PASSWORD = "Leak%Check#One;a=b:c'd\"e"


class _Spec(Exception):
    pass


def _load(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location("aloha_test_module_" + name, LIBRARY / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _argument_spec(name, monkeypatch):
    def record(self, argument_spec, **_):
        raise _Spec(argument_spec)
    monkeypatch.setattr(basic.AnsibleModule, "__init__", record)
    with pytest.raises(_Spec) as got:
        _load(name).main()
    return got.value.args[0]


def _nested_no_log(spec, path=()):
    for option, opts in spec.items():
        if path and opts.get("no_log"):
            yield ".".join(path + (option,))
        yield from _nested_no_log(opts.get("options") or {}, path + (option,))


@pytest.mark.parametrize("name", MODULES)
def test_no_secret_is_a_suboption(name, monkeypatch):
    spec = _argument_spec(name, monkeypatch)
    assert spec, name
    assert list(_nested_no_log(spec)) == []


def test_the_check_modules_invocation_log_has_no_password(tmp_path, monkeypatch):
    """aloha_email_check runs on every host on every run, with the password."""
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    me = os.geteuid()
    import grp
    import pwd
    user, group = pwd.getpwuid(me).pw_name, grp.getgrgid(os.getegid()).gr_name
    deploy = tmp_path / "deploy"
    (deploy / "scripts").mkdir(parents=True)
    for script in (deploy / "manage.py", deploy / "scripts" / "restart-server"):
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    (tmp_path / "settings.py").write_text("## Outgoing email (SMTP) settings.\n")
    (tmp_path / "aloha-secrets.conf").write_text("[secrets]\nsecret_key = k\n")
    files = dict(owner=user, group=group)
    args = dict(user=user, deploy_path=str(deploy),
                settings=dict(path=str(tmp_path / "settings.py"), content="EMAIL_HOST = 'x'\n",
                              managed_names=["EMAIL_HOST"], mode="0644", **files),
                secret=dict(path=str(tmp_path / "aloha-secrets.conf"), mode="0640", **files),
                secret_value=PASSWORD)
    with patch_module_args(args), pytest.raises(SystemExit):
        _load("aloha_email_check").main()
    assert any("Invoked with" in line for line in logged), logged
    text = "\n".join(logged)
    for form in (PASSWORD, repr(PASSWORD)[1:-1], json.dumps(PASSWORD)[1:-1], "Leak%Check#One"):
        assert form not in text


def test_the_restores_invocation_log_has_no_snapshot(tmp_path, monkeypatch, capsys):
    """The rollback passes the snapshot (the old secrets file's bytes among
    it) back to aloha_snapshot: none of it may reach the host's log."""
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("[secrets]\nemail_password = %s\n" % PASSWORD)
    with patch_module_args(dict(paths=[str(path)])), pytest.raises(SystemExit):
        _load("aloha_snapshot").main()
    snapshot = json.loads(capsys.readouterr().out)["snapshot"]
    logged.clear()
    with patch_module_args(dict(state="restore", snapshot=snapshot)), pytest.raises(SystemExit):
        _load("aloha_snapshot").main()
    assert any("Invoked with" in line for line in logged), logged
    text = "\n".join(logged)
    for form in (snapshot["files"][0]["content"], str(path), "Leak%Check#One"):
        assert form not in text
