"""aloha_restart: runs the deployment's scripts/restart-server; a failure
carries cause restart_failed and the tail of Aloha's output, scrubbed of
the role's secrets; check mode runs nothing."""

import pytest

from conftest import CURRENT_USER

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
    assert not (path / "scripts" / "ran.log").exists()


def test_missing_script_names_the_variable(run_module, tmp_path):
    proc, result = run_module("aloha_restart", args(tmp_path / "nowhere"), secrets={"pw": PASSWORD})
    assert proc.returncode != 0
    assert result["cause"] == "restart_failed"
    assert "aloha_email_deploy_path" in result["msg"] and "restart-server is missing or not executable" in result["msg"]
