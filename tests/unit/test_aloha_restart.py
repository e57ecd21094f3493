"""aloha_restart: runs the deployment's scripts/restart-server; a failure
carries cause restart_failed and the tail of Aloha's output, scrubbed of
the role's secrets; check mode runs nothing."""

import base64
import os

import pytest

from conftest import CURRENT_USER, TARGET_PYTHON

PASSWORD = "Rst-pa55;w'ord%x"

# What Aloha's restart-server prints when aloha-secrets.conf does not parse:
# configparser quotes the offending line (repr: the quote is escaped).
FAILING = r'''#!/bin/sh
cat >&2 <<'EOT'
Traceback (most recent call last):
  File "/home/aloha/deployments/current/scripts/restart-server", line 46, in main
    config.load_all()
    ~~~~~~~~~~~~~~~^^
configparser.ParsingError: Source contains parsing errors: '/etc/aloha/aloha-secrets.conf'
	[line  4]: 'email_password = Rst-pa55;w\'ord%x\n'
Error: the configuration in /etc/aloha could not be loaded; not restarting.
EOT
exit 3
'''
WORKING = """#!/bin/sh
echo "$(date): Restarting django server" >> "$(dirname "$0")/ran.log"
echo Done!
"""


def deploy(tmp_path, script):
    path = tmp_path / "deploy"
    (path / "scripts").mkdir(parents=True)
    restart = path / "scripts" / "restart-server"
    restart.write_text(script)
    restart.chmod(0o755)
    return path


def args(path, **extra):
    return dict(deploy_path=str(path), user=CURRENT_USER, secrets=["{{ pw }}"], **extra)


def test_restart_runs_the_script(run_module, tmp_path):
    path = deploy(tmp_path, WORKING)
    proc, result = run_module("aloha_restart", args(path), secrets={"pw": PASSWORD})
    assert proc.returncode == 0, proc.stdout
    assert (result["changed"], result["restarted"], result["rc"]) == (True, True, 0)
    assert result["stdout_lines"] == ["Done!"]
    assert result["cmd"] == [str(path / "scripts" / "restart-server")]
    assert result["msg"] == "Aloha restarted"
    assert "Restarting django server" in (path / "scripts" / "ran.log").read_text()


@pytest.mark.ansible_cli
@pytest.mark.parametrize("verbosity", [0, 4])
def test_failed_restart_names_the_cause_with_a_scrubbed_tail(run_module, tmp_path, verbosity):
    path = deploy(tmp_path, FAILING)
    script = path / "scripts" / "restart-server"
    proc, result = run_module("aloha_restart", args(path), secrets={"pw": PASSWORD}, verbosity=verbosity)
    assert proc.returncode != 0
    assert (result["failed"], result["restarted"], result["cause"], result["rc"]) == (True, False, "restart_failed", 3)
    assert result["error"].startswith("%s exited with rc 3: " % script)
    assert result["fix"] == "Fix what Aloha refused (the error above), then run the role again."
    assert result["msg"] == ("Aloha did not restart (restart_failed): %s Fix what Aloha refused (the error above), "
                             "then run the role again." % result["error"])
    assert "'email_password = ********\\n'" in result["error"]
    assert result["error"].endswith("not restarting.")
    # The tail without Python's ~~~^^ marker lines, the code line kept.
    assert "~~~" not in result["error"] and "config.load_all()" in result["error"]
    assert "Rst-pa55" not in proc.stdout + proc.stderr


def test_tail_lines_limits_the_quoted_output(run_module, tmp_path):
    path = deploy(tmp_path, FAILING)
    _, result = run_module("aloha_restart", args(path, tail_lines=1), secrets={"pw": PASSWORD})
    assert result["error"].endswith("exited with rc 3: Error: the configuration in /etc/aloha could not be loaded; "
                                    "not restarting.")


def test_check_mode_runs_nothing(run_module, tmp_path):
    path = deploy(tmp_path, WORKING)
    proc, result = run_module("aloha_restart", args(path), secrets={"pw": PASSWORD}, check=True)
    assert proc.returncode == 0
    assert (result["changed"], result["restarted"]) == (True, False)
    assert result["msg"] == "would run %s" % " ".join(result["cmd"])
    assert result["cmd"][-1] == str(path / "scripts" / "restart-server")
    assert not (path / "scripts" / "ran.log").exists()


def test_missing_script_names_the_variable(run_module, tmp_path):
    proc, result = run_module("aloha_restart", args(tmp_path / "nowhere"), secrets={"pw": PASSWORD})
    assert proc.returncode != 0
    assert result["cause"] == "restart_failed"
    assert "aloha_email_deploy_path" in result["msg"] and "restart-server is missing or not executable" in result["msg"]


def test_defaults_are_alohas_own_deployment_and_user(run_module):
    # No deploy_path, no user: Aloha's standard place, run as the aloha user
    # (not deployed on this machine, so the module stops at the missing script).
    script = "/home/aloha/deployments/current/scripts/restart-server"
    proc, result = run_module("aloha_restart", dict(secrets=["{{ pw }}"]), secrets={"pw": PASSWORD}, check=True)
    assert proc.returncode != 0
    assert result["error"] == ("%s is missing or not executable: is Aloha deployed at "
                               "aloha_email_deploy_path /home/aloha/deployments/current?" % script)
    expected = ["runuser", "-u", "aloha", "--", script] if os.geteuid() == 0 else [script]
    assert result["cmd"] == expected


def test_deploy_path_expands_variables(run_module, tmp_path, monkeypatch):
    path = deploy(tmp_path, WORKING)
    monkeypatch.setenv("ALOHA_UNIT_DEPLOY", str(path))
    proc, result = run_module("aloha_restart", dict(args(path), deploy_path="$ALOHA_UNIT_DEPLOY"),
                              secrets={"pw": PASSWORD})
    assert proc.returncode == 0, proc.stdout
    assert result["cmd"] == [str(path / "scripts" / "restart-server")]


@pytest.mark.parametrize("script, tail", [
    ("printf 'first\\nsecond\\n' >&2; exit 4", "first / second"),
    # Nothing on stderr: the tail of the standard output.
    ("echo out-one; echo out-two; exit 4", "out-one / out-two"),
    ("exit 4", "no output"),
])
def test_failure_tail_joins_the_last_lines(run_module, tmp_path, script, tail):
    path = deploy(tmp_path, "#!/bin/sh\n%s\n" % script)
    _, result = run_module("aloha_restart", args(path, tail_lines=2), secrets={"pw": PASSWORD})
    assert result["error"].endswith("exited with rc 4: %s" % tail)


def test_a_numeric_secret_is_scrubbed_too(run_module, tmp_path):
    # A password written unquoted in YAML arrives as a number.
    path = deploy(tmp_path, "#!/bin/sh\necho 'email_password = 73519024' >&2\nexit 3\n")
    proc, result = run_module("aloha_restart", dict(args(path), secrets=[73519024]))
    assert result["cause"] == "restart_failed"
    assert "email_password = ********" in result["error"]
    assert "73519024" not in proc.stdout + proc.stderr


def test_login_user_stays_readable_and_its_base64_is_masked(run_module, tmp_path):
    # Server replies name the login; its base64 (AUTH LOGIN) is a credential.
    user = "relay@aloha.test"
    encoded = base64.b64encode(user.encode()).decode()
    path = deploy(tmp_path, "#!/bin/sh\necho 'login %s (%s) refused' >&2\nexit 3\n" % (user, encoded))
    _, result = run_module("aloha_restart", dict(args(path), login_user=user), secrets={"pw": PASSWORD})
    assert result["error"].endswith("rc 3: login relay@aloha.test (********) refused")


def test_a_script_that_is_not_executable_is_refused(run_module, tmp_path):
    path = deploy(tmp_path, WORKING)
    (path / "scripts" / "restart-server").chmod(0o644)
    proc, result = run_module("aloha_restart", args(path), secrets={"pw": PASSWORD})
    assert proc.returncode != 0
    assert result["error"] == ("%s is missing or not executable: is Aloha deployed at "
                               "aloha_email_deploy_path %s?" % (path / "scripts" / "restart-server", path))
    assert not (path / "scripts" / "ran.log").exists()


def test_the_tail_quotes_eight_lines_by_default(run_module, tmp_path):
    path = deploy(tmp_path, "#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8 9 10; do echo line$i >&2; done\nexit 3\n")
    _, result = run_module("aloha_restart", args(path), secrets={"pw": PASSWORD})
    assert result["error"].endswith("rc 3: " + " / ".join("line%d" % i for i in range(3, 11)))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the aloha user needs root")
def test_check_mode_names_the_command_it_would_run(run_module, tmp_path):
    path = deploy(tmp_path, WORKING)
    script = path / "scripts" / "restart-server"
    _, result = run_module("aloha_restart", dict(args(path), user="aloha"), secrets={"pw": PASSWORD}, check=True)
    assert result["msg"] == "would run runuser -u aloha -- %s" % script


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_a_failure_names_the_whole_command(run_module, tmp_path):
    # nobody may not enter pytest's private tmp directory: runuser's command fails.
    path = deploy(tmp_path, WORKING)
    _, result = run_module("aloha_restart", dict(args(path), user="nobody"), secrets={"pw": PASSWORD})
    assert result["cause"] == "restart_failed"
    assert result["error"].startswith("runuser -u nobody -- %s exited with rc " % (path / "scripts" / "restart-server"))


@pytest.mark.ansible_cli
def test_neither_root_nor_the_aloha_user_is_refused_with_the_fix(run_module, tmp_path, monkeypatch):
    # Without become, the module runs as the SSH user: it cannot switch to
    # the Aloha user. The interpreter drops to "nobody" (setpriv), and the
    # module comes over stdin (pipelining), as it does over SSH.
    wrapper = tmp_path / "python-as-nobody"
    wrapper.write_text("#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups %s \"$@\"\n"
                       % TARGET_PYTHON)
    wrapper.chmod(0o755)
    monkeypatch.setenv("ANSIBLE_PIPELINING", "1")
    script = tmp_path / "deploy" / "scripts" / "restart-server"
    proc, result = run_module("aloha_restart", dict(deploy_path=str(tmp_path / "deploy"), user="aloha"),
                              python=str(wrapper))
    assert result["failed"] is True and result["cause"] == "restart_failed", proc.stdout
    assert result["error"] == "must run as root (become: true) or as aloha to run %s." % script
    assert result["cmd"] == [str(script)]
