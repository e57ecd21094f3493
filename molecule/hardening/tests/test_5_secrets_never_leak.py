"""Secrets never leak: converge at -vvv, --check --diff, a preflight
refusal, a failing verification with rollback; the password (plain, quoted,
escaped inside longer strings, its quote-free fragments, base64) is in none
of Ansible's output, Ansible's log, the fact cache, the retry files, the
hosts' logs, backup files or any other file on the hosts but its own."""

import shlex

import pytest

from alohatest import (clear_messages, host, host_names, messages, messages_for, password_forms, run_role,
                       secrets_value, set_smtp_password, smtp_host, task_output, vault_password)

TARGET = host_names("aloha")[0]
GOOD = "Leak%Check#One;a=b:c'd\"e"
NEW = "Leak%Check#Two;f=g:h"
REFUSED = "Leak%Check#Three;i=j:k"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    env = {
        "ANSIBLE_LOG_PATH": str(tmp / "ansible.log"),
        "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
        "ANSIBLE_RETRY_FILES_ENABLED": "1",
        "ANSIBLE_RETRY_FILES_SAVE_PATH": str(tmp / "retry"),
    }
    outputs = {}
    set_smtp_password(GOOD)
    outputs["converge -vvv"] = run_role(TARGET, {"aloha_email_password": GOOD}, verbosity=3, env=env)
    # NEW is not the server's password yet: the preflight (which runs in
    # check mode too) is off so that the check run shows the whole diff.
    outputs["check diff -vvv"] = run_role(TARGET, {"aloha_email_password": NEW, "aloha_email_preflight": False},
                                          check=True, diff=True, verbosity=3, env=env)
    outputs["preflight refusal -vvv"] = run_role(TARGET, {"aloha_email_password": REFUSED}, verbosity=3, env=env)
    clear_messages()
    # Without the preflight, the SMTP server refuses REFUSED at the
    # verification, and the role rolls back.
    outputs["failed verify + rollback -vvv"] = run_role(
        TARGET, {"aloha_email_password": REFUSED, "aloha_email_preflight": False}, verbosity=3, env=env, diff=True)
    yield tmp, outputs
    set_smtp_password(vault_password())
    assert run_role(TARGET).returncode == 0


def forms():
    found = set()
    for password in (GOOD, NEW, REFUSED):
        found |= password_forms(password)
    return found


def test_runs_did_what_they_should(runs):
    _, outputs = runs
    assert outputs["converge -vvv"].returncode == 0, outputs["converge -vvv"].stdout
    assert outputs["check diff -vvv"].returncode == 0, outputs["check diff -vvv"].stdout
    assert "email_password = ******** (changed)" in outputs["check diff -vvv"].stdout
    refused = outputs["preflight refusal -vvv"]
    assert refused.returncode != 0 and "SMTP preflight failed (auth_refused)" in refused.stdout
    failed = outputs["failed verify + rollback -vvv"]
    assert failed.returncode != 0
    assert "send_test_email failed (auth_refused)" in failed.stdout
    assert "previous configuration was restored" in failed.stdout


def test_rollback_left_the_host_on_its_old_working_password(runs):
    h = host(TARGET)
    assert secrets_value(h).strip() == repr(GOOD)
    clear_messages()
    out = h.run("runuser -u aloha -- /home/aloha/deployments/current/manage.py send_test_email ops+%s@example.net"
                % TARGET)
    assert out.rc == 0, out.stdout + out.stderr
    assert len(messages_for(messages(), TARGET)) == 2


@pytest.mark.parametrize("name", ["converge -vvv", "check diff -vvv", "preflight refusal -vvv",
                                  "failed verify + rollback -vvv"])
def test_no_secret_in_ansible_output(runs, name):
    _, outputs = runs
    text = outputs[name].stdout
    assert len(text) > 1000
    for form in forms():
        assert form not in text, (name, form)


def test_secure_logging_hides_the_secrets_write(runs):
    """Secure logging (on by default) hides the whole result of a real
    write of aloha-secrets.conf at -vvv, masked diff included; the check
    run (--diff) shows the masked diff."""
    _, outputs = runs
    write = task_output(outputs["converge -vvv"].stdout, "Set email_password in aloha-secrets.conf.")
    assert "changed: [%s]" % TARGET in write, write
    assert "censored" in write and "email_password = " not in write, write


def test_no_secret_in_controller_files(runs):
    tmp, _ = runs
    files = [p for p in tmp.rglob("*") if p.is_file()]
    assert (tmp / "ansible.log").is_file() and any("retry" in str(p) for p in files)
    assert any("facts" in str(p) for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        for form in forms():
            assert form not in text, (path, form)


SEARCHED = "/etc /var /root /home /srv /tmp /run /usr/local /opt"
# The one file on each host that must hold the password: found by the same
# search, it proves the search works (a grep that errors or finds nothing
# would otherwise pass).
OWN_FILE = {"aloha": "/etc/aloha/aloha-secrets.conf", "smtp": "/etc/aloha-test-smtp/config.json"}


def search(h, roots=SEARCHED):
    """Files under ROOTS holding any form of the passwords: (grep's rc, paths)."""
    patterns = " ".join("-e %s" % shlex.quote(f) for f in sorted(forms()))
    out = h.run("grep -rlF --devices=skip %s %s 2>/tmp/leak-grep.err" % (patterns, roots))
    return out.rc, set(out.stdout.split())


@pytest.mark.parametrize("which", ["aloha", "smtp"])
def test_no_secret_in_any_file_on_the_hosts(runs, which):
    h = host(TARGET) if which == "aloha" else smtp_host()
    rc, hits = search(h)
    # rc 0: grep ran and found something; the only hit allowed is the
    # host's own password file, and it must be among the hits.
    assert rc == 0, h.run("cat /tmp/leak-grep.err").stdout
    assert OWN_FILE[which] in hits, hits
    assert hits == {OWN_FILE[which]}, hits
    assert not h.run("ls /etc/aloha/*~ /etc/aloha/*.bak /etc/aloha/*.orig /etc/aloha/.aloha* 2>/dev/null").stdout


def test_logs_exist_and_are_clean(runs):
    h = host(TARGET)
    logs = h.check_output("ls /var/log/aloha").split()
    assert {"send_email.log", "manage.log", "server.log"} <= set(logs)
    # The runs wrote to them (the verification ran send_test_email) ...
    assert "send_test_email" in h.file("/var/log/aloha/manage.log").content_string
    # ... and no form of any password is in any of them, nor in the journal.
    rc, hits = search(h, "/var/log")
    assert rc == 1 and not hits, hits
    journal = h.run("journalctl --no-pager -o cat 2>/dev/null").stdout
    assert len(journal) > 1000
    for form in forms():
        assert form not in journal, form


def test_secrets_file_mode(runs):
    f = host(TARGET).file("/etc/aloha/aloha-secrets.conf")
    assert (f.user, f.group, f.mode) == ("aloha", "aloha", 0o640)
