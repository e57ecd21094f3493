"""aloha_email_check, the role's check phase in one module call: the Aloha
user and scripts, and whether settings.py and aloha-secrets.conf need a
change (content, owner, group, mode), with the same refusals as the
modules that write them; it never writes."""

import grp
import os
import pwd

import pytest

SEED = ("################\n## Mandatory settings.\n\naloha_ADMINISTRATOR = \"support@aloha.test\"\n"
        "EXTERNAL_HOST = \"chat.aloha.test\"\n\n################\n## Outgoing email (SMTP) settings.\n\n"
        "EMAIL_HOST = \"old.example.com\"\n")
SECTION = "################\n## Outgoing email (SMTP) settings.\n\nEMAIL_HOST = \"smtp.aloha.test\"\n"
ME = pwd.getpwuid(os.geteuid()).pw_name
MY_GROUP = grp.getgrgid(os.getegid()).gr_name


@pytest.fixture
def host(tmp_path):
    deploy = tmp_path / "deploy"
    (deploy / "scripts").mkdir(parents=True)
    for script in (deploy / "manage.py", deploy / "scripts" / "restart-server"):
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    settings = tmp_path / "settings.py"
    settings.write_text(SEED)
    settings.chmod(0o644)
    secrets = tmp_path / "aloha-secrets.conf"
    secrets.write_text("[secrets]\nsecret_key = k3y\nemail_password = s3cret\n")
    secrets.chmod(0o640)
    return tmp_path


def args(tmp_path, content=SECTION, password="{{ pw }}", **extra):
    files = dict(owner=ME, group=MY_GROUP)
    result = dict(user=ME, deploy_path=str(tmp_path / "deploy"),
                  settings=dict(path=str(tmp_path / "settings.py"), content=content,
                                managed_names=["EMAIL_HOST"], mode="0644", **files),
                  secret=dict(path=str(tmp_path / "aloha-secrets.conf"), mode="0640", **files),
                  secret_value=password)
    result.update(extra)
    return result


def check(run_module, tmp_path, password="s3cret", **extra):
    return run_module("aloha_email_check", args(tmp_path, **extra), secrets={"pw": password})


def test_reports_what_would_change_and_writes_nothing(run_module, host):
    files = [host / "settings.py", host / "aloha-secrets.conf"]
    before = [(f.read_bytes(), f.stat().st_mode, f.stat().st_mtime_ns) for f in files]
    proc, result = check(run_module, host, password="n3w")
    assert proc.returncode == 0, result
    assert result["changed"] is False
    assert result["settings"]["needs_change"] is True
    assert result["settings"]["settings"] == {"aloha_ADMINISTRATOR": "support@aloha.test",
                                              "EXTERNAL_HOST": "chat.aloha.test"}
    assert result["secret"] == {"needs_change": True, "action": "updated"}
    assert [(f.read_bytes(), f.stat().st_mode, f.stat().st_mtime_ns) for f in files] == before
    assert "n3w" not in proc.stdout


def test_nothing_to_change(run_module, host):
    (host / "settings.py").write_text(SEED.replace("EMAIL_HOST = \"old.example.com\"\n", "EMAIL_HOST = \"smtp.aloha.test\"\n"))
    proc, result = check(run_module, host)
    assert proc.returncode == 0, result
    assert result["settings"]["needs_change"] is False
    assert result["secret"] == {"needs_change": False, "action": "unchanged"}


def test_a_mode_alone_is_a_change(run_module, host):
    (host / "settings.py").write_text(SEED.replace("old.example.com", "smtp.aloha.test"))
    (host / "aloha-secrets.conf").chmod(0o644)
    proc, result = check(run_module, host)
    assert proc.returncode == 0, result
    assert (result["settings"]["needs_change"], result["secret"]["needs_change"]) == (False, True)


def test_symlinked_files_are_checked_through_the_link(run_module, host):
    (host / "real").mkdir()
    for name in ("settings.py", "aloha-secrets.conf"):
        (host / name).rename(host / "real" / name)
        (host / name).symlink_to(host / "real" / name)
    (host / "real" / "settings.py").write_text(SEED.replace("old.example.com", "smtp.aloha.test"))
    proc, result = check(run_module, host)
    assert proc.returncode == 0, result
    assert (result["settings"]["needs_change"], result["secret"]["needs_change"]) == (False, False)


@pytest.mark.parametrize("change, needle", [
    (lambda h: (h / "deploy/manage.py").unlink(), "manage.py does not exist"),
    (lambda h: (h / "deploy/scripts/restart-server").chmod(0o644), "restart-server is not executable"),
    (lambda h: (h / "settings.py").unlink(), "settings.py does not exist"),
    (lambda h: (h / "settings.py").write_text("EMAIL_HOST_PASSWORD = 'x'\n"), "EMAIL_HOST_PASSWORD"),
    (lambda h: (h / "aloha-secrets.conf").write_text("email_password = x\n"), "[secrets]"),
    # The key's name is no secret: it stays readable in the message.
    (lambda h: (h / "aloha-secrets.conf").write_text("[secrets]\nemail_password = a\nemail_password = b\n"),
     "has 2 'email_password' entries in [secrets]"),
])
def test_refusals_name_the_problem(run_module, host, change, needle):
    change(host)
    proc, result = check(run_module, host)
    assert proc.returncode != 0
    assert needle in result["msg"]


def test_unknown_user_and_bad_password(run_module, host):
    proc, result = check(run_module, host, user="nosuchuser-aloha")
    assert "User nosuchuser-aloha does not exist" in result["msg"] and "aloha_email_user" in result["msg"]
    proc, result = check(run_module, host, password=" padded")
    assert proc.returncode != 0 and "whitespace" in result["msg"] and " padded" not in proc.stdout


def test_every_missing_script_is_named_with_the_fix(run_module, host):
    (host / "deploy/manage.py").unlink()
    (host / "deploy/scripts/restart-server").unlink()
    proc, result = check(run_module, host)
    deploy = host / "deploy"
    assert result["msg"] == (
        "%s/manage.py does not exist. %s/scripts/restart-server does not exist. Set "
        "aloha_email_deploy_path to the Aloha deployment (default "
        "/home/aloha/deployments/current) and make its scripts executable." % (deploy, deploy))


def test_a_directory_in_place_of_a_script_is_not_executable(run_module, host):
    (host / "deploy/manage.py").unlink()
    (host / "deploy/manage.py").mkdir()
    proc, result = check(run_module, host)
    assert result["msg"].startswith("%s/manage.py is not executable. Set aloha_email_deploy_path"
                                    % (host / "deploy"))


def test_unknown_user_message_in_full(run_module, host):
    proc, result = check(run_module, host, user="nosuchuser-aloha")
    assert result["msg"] == ("User nosuchuser-aloha does not exist on this host: is Aloha "
                             "installed? Set aloha_email_user to the user Aloha runs as.")


@pytest.mark.parametrize("part, field, value, message", [
    ("settings", "owner", "nosuchuser-aloha",
     "user nosuchuser-aloha does not exist on this host (aloha_email_user)"),
    ("settings", "group", "nosuchgroup-aloha",
     "group nosuchgroup-aloha does not exist on this host (aloha_email_group)"),
    ("secret", "owner", "nosuchuser-aloha",
     "user nosuchuser-aloha does not exist on this host (aloha_email_user)"),
    ("secret", "group", "nosuchgroup-aloha",
     "group nosuchgroup-aloha does not exist on this host (aloha_email_group)"),
])
def test_an_unknown_file_owner_or_group_is_a_refusal(run_module, host, part, field, value, message):
    # settings.py already right: its owner and group are what is left to compare.
    (host / "settings.py").write_text(SEED.replace("old.example.com", "smtp.aloha.test"))
    given = args(host)
    given[part][field] = value
    proc, result = run_module("aloha_email_check", given, secrets={"pw": "s3cret"})
    assert result["failed"] is True and result["msg"] == message


OTHER_USER = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.geteuid())
OTHER_GROUP = next(g.gr_name for g in grp.getgrall() if g.gr_gid != os.getegid())


@pytest.mark.parametrize("field, value", [("mode", "0600"), ("group", OTHER_GROUP), ("owner", OTHER_USER)])
def test_settings_owner_group_or_mode_alone_is_a_change(run_module, host, field, value):
    (host / "settings.py").write_text(SEED.replace("old.example.com", "smtp.aloha.test"))
    given = args(host)
    given["settings"][field] = value
    proc, result = run_module("aloha_email_check", given, secrets={"pw": "s3cret"})
    assert (result["settings"]["needs_change"], result["secret"]["needs_change"]) == (True, False)


def test_a_missing_secrets_file_would_be_created(run_module, host):
    # No file: nothing to compare the owner, group and mode with.
    (host / "aloha-secrets.conf").unlink()
    proc, result = check(run_module, host)
    assert proc.returncode == 0, result
    assert result["secret"] == {"needs_change": True, "action": "created"}


@pytest.mark.parametrize("key, state, action", [
    ("email_password", "absent", "removed"),
    ("other_password", "absent", "absent"),
    ("other_password", "present", "added"),
])
def test_the_secret_key_and_state_are_planned(run_module, host, key, state, action):
    given = args(host)
    given["secret"].update(key=key, state=state)
    proc, result = run_module("aloha_email_check", given, secrets={"pw": "s3cret"})
    assert result["secret"] == {"needs_change": action != "absent", "action": action}


def test_an_override_after_the_section_is_reported_as_disabled(run_module, host):
    (host / "settings.py").write_text(SEED + "################\n## Later.\nEMAIL_HOST = 'late.example.com'\n")
    proc, result = check(run_module, host)
    assert result["settings"]["disabled"] == [13]
    assert result["settings"]["needs_change"] is True


def test_check_mode_gives_the_same_report(run_module, host):
    # The audit (playbooks/audit.yml) and --check run it in check mode: it
    # must report there, not be skipped as a module without check mode.
    proc, result = run_module("aloha_email_check", args(host), secrets={"pw": "n3w"}, check=True)
    assert proc.returncode == 0, result
    assert "skipped" not in result, result
    assert result["settings"]["needs_change"] is True
    assert result["secret"] == {"needs_change": True, "action": "updated"}


def test_no_password_given_is_the_empty_password_refusal(run_module, host):
    given = args(host)
    del given["secret_value"]
    proc, result = run_module("aloha_email_check", given)
    assert result["failed"] is True
    assert result["msg"] == ("Refusing to write email_password to %s: aloha_email_password is empty; set it "
                             "(in the vault) to the SMTP password." % (host / "aloha-secrets.conf"))
