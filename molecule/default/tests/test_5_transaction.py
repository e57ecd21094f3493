"""One run is one transaction (role README, "How a run works"): the test
emails go out on the new files before Aloha restarts; a change restarts
Aloha exactly once; a failed test restarts it zero times and puts every
file back; a failed restart restarts it twice (new, then restored) and
leaves it running on the old files. Each switch keeps its meaning
(rollback off, verification off, verify_force, preflight only when a change
is pending), and symlinked configuration files stay links. The stand-in
server logs every restart and the digests of the files each started
process loaded (alohatest.server_state)."""

import pytest

from alohatest import (ALOHA_FILES, clear_messages, file_digests, file_stats, host, host_names, messages_for,
                       messages, password_forms, read_secrets, run_role, server_state, smtp_logins, write_file)

TARGET = host_names("aloha")[1]
SETTINGS, SECRETS = ALOHA_FILES
WRONG = "Wr0ng-but-v4lid"


def snapshot():
    """Everything a run may change, and what the server runs."""
    h = host(TARGET)
    return dict(digests=file_digests(TARGET), stats=file_stats(TARGET), server=server_state(TARGET),
                links=h.check_output("ls -l --time-style=+ %s | cut -d' ' -f1,9-" % " ".join(ALOHA_FILES)),
                settings=h.file(SETTINGS).content_string, secrets=h.file(SECRETS).content_string)


@pytest.fixture()
def converged():
    """The scenario's working configuration (every test leaves it so), and
    after each test the role run with it again."""
    yield snapshot()
    proc = run_role(TARGET, {})
    assert proc.returncode == 0, proc.stdout


def test_success_tests_on_the_new_files_then_restarts_once(converged):
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_add_tokens_to_noreply_address": False})
    assert proc.returncode == 0, proc.stdout
    after = server_state(TARGET)
    assert after["restarts"] == converged["server"]["restarts"] + 1
    # The restarted server runs the new files.
    assert file_digests(TARGET) == {SETTINGS: after["settings"], SECRETS: after["secrets"]}
    assert after["settings"] != converged["server"]["settings"]
    # The test emails went out before the restart, from the new settings
    # (the fixed noreply sender), and the how-to's order shows in the run.
    senders = [m["mail_from"] for m in messages_for(messages(), TARGET)]
    assert senders == ["support@aloha.test", "noreply@%s.aloha.test" % TARGET]
    tasks = [line for line in proc.stdout.splitlines() if line.startswith("TASK [")]
    test = tasks.index(next(t for t in tasks if "Send Aloha's two test emails" in t))
    restart = tasks.index(next(t for t in tasks if "Restart the Aloha server." in t))
    assert test < restart


def test_failed_test_restarts_nothing_and_restores_every_byte(converged):
    proc = run_role(TARGET, {"aloha_email_password": WRONG, "aloha_email_preflight": False})
    assert proc.returncode != 0
    assert "send_test_email failed (auth_refused)" in proc.stdout
    assert "The previous configuration was restored; Aloha was not restarted and still runs it." in proc.stdout
    for form in password_forms(WRONG):
        assert form not in proc.stdout
    now = snapshot()
    assert now == converged
    assert now["server"]["restarts"] == converged["server"]["restarts"]


def test_rollback_off_keeps_the_new_files_and_loses_nothing(converged):
    """The data-loss case: rollback off, preflight off, a refused password.
    The secrets file stays, with every other secret, and Aloha is neither
    restarted nor told that anything was restored."""
    proc = run_role(TARGET, {"aloha_email_password": WRONG, "aloha_email_preflight": False,
                             "aloha_email_rollback": False})
    assert proc.returncode != 0
    assert "send_test_email failed (auth_refused)" in proc.stdout
    assert "The new files were left in place" in proc.stdout
    assert "previous configuration was restored" not in proc.stdout
    before, now = read_secrets(converged["secrets"]), read_secrets(host(TARGET).file(SECRETS).content_string)
    assert now.get("secrets", "email_password") == WRONG
    assert {k: v for k, v in now.items("secrets") if k != "email_password"} == \
        {k: v for k, v in before.items("secrets") if k != "email_password"}
    assert len(before.items("secrets")) > 1
    state = snapshot()
    assert state["settings"] == converged["settings"]
    assert state["stats"] == converged["stats"]
    assert state["server"] == converged["server"]


def test_failed_restart_restarts_twice_and_runs_the_old_files(converged):
    """The server refuses port 465 (fixture knob); send_test_email works
    with it, so only the restart fails."""
    h = host(TARGET)
    write_file(h, SETTINGS, converged["settings"] + "\nSTANDIN_SERVER_REFUSES_EMAIL_PORT = 465\n")
    try:
        before = snapshot()
        proc = run_role(TARGET, {"aloha_email_port": 465, "aloha_email_use_tls": False,
                                 "aloha_email_use_ssl": True})
        assert proc.returncode != 0
        assert "Aloha did not restart with the new configuration (restart_failed)" in proc.stdout
        assert "The previous configuration was restored and Aloha restarted with it." in proc.stdout
        now = snapshot()
        assert now["server"]["restarts"] == before["server"]["restarts"] + 2
        assert {k: v for k, v in now.items() if k != "server"} == {k: v for k, v in before.items() if k != "server"}
        assert now["digests"] == {SETTINGS: now["server"]["settings"], SECRETS: now["server"]["secrets"]}
    finally:
        write_file(h, SETTINGS, converged["settings"])


def test_verification_off_restarts_once_and_sends_nothing(converged):
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_add_tokens_to_noreply_address": False, "aloha_email_verify": False})
    assert proc.returncode == 0, proc.stdout
    assert messages_for(messages(), TARGET) == []
    assert server_state(TARGET)["restarts"] == converged["server"]["restarts"] + 1


def test_verify_force_sends_without_a_change_or_restart(converged):
    clear_messages()
    proc = run_role(TARGET, {"aloha_email_verify_force": True})
    assert proc.returncode == 0, proc.stdout
    assert "changed=0" in proc.stdout.split("PLAY RECAP")[1]
    assert len(messages_for(messages(), TARGET)) == 2
    assert snapshot() == converged


def test_preflight_runs_only_when_a_change_is_pending_or_always(converged):
    logins = smtp_logins(TARGET)
    proc = run_role(TARGET, {})
    assert proc.returncode == 0, proc.stdout
    assert smtp_logins(TARGET) == logins
    proc = run_role(TARGET, {"aloha_email_preflight": "always"})
    assert proc.returncode == 0, proc.stdout
    assert smtp_logins(TARGET) == logins + 1
    assert "changed=0" in proc.stdout.split("PLAY RECAP")[1]
    assert snapshot() == converged


@pytest.fixture()
def symlinked(converged):
    """settings.py and aloha-secrets.conf as links into an operator's config
    directory, as etckeeper-style setups keep them; the targets have their
    own owner and mode."""
    h = host(TARGET)
    h.check_output("mkdir -p /srv/aloha-config && mv %s %s /srv/aloha-config/ && "
                   "ln -s /srv/aloha-config/settings.py %s && ln -s ../../srv/aloha-config/aloha-secrets.conf %s && "
                   "chown root:aloha /srv/aloha-config/aloha-secrets.conf && chmod 0640 /srv/aloha-config/aloha-secrets.conf"
                   % (SETTINGS, SECRETS, SETTINGS, SECRETS))
    try:
        yield snapshot()
    finally:
        h.check_output("rm -f %s %s && mv /srv/aloha-config/settings.py /srv/aloha-config/aloha-secrets.conf /etc/aloha/"
                       " && chown aloha:aloha %s && rmdir /srv/aloha-config" % (SETTINGS, SECRETS, SECRETS))


def targets(h):
    return h.check_output("stat -c '%U %G %a %s %n' /srv/aloha-config/settings.py /srv/aloha-config/aloha-secrets.conf")


def test_symlinked_files_stay_links_on_rollback_and_on_success(symlinked):
    h = host(TARGET)
    links = h.check_output("readlink %s %s" % ALOHA_FILES)
    assert links.split() == ["/srv/aloha-config/settings.py", "../../srv/aloha-config/aloha-secrets.conf"]
    target_stats = targets(h)
    # A refused password: rolled back into the targets, links untouched.
    proc = run_role(TARGET, {"aloha_email_password": WRONG, "aloha_email_preflight": False})
    assert proc.returncode != 0
    assert "The previous configuration was restored" in proc.stdout
    assert snapshot() == symlinked
    assert targets(h) == target_stats
    assert h.check_output("readlink %s %s" % ALOHA_FILES) == links
    assert WRONG not in h.check_output("cat /srv/aloha-config/aloha-secrets.conf")
    # A working change: written through the links.
    proc = run_role(TARGET, {"aloha_email_add_tokens_to_noreply_address": False})
    assert proc.returncode == 0, proc.stdout
    assert h.check_output("readlink %s %s" % ALOHA_FILES) == links
    assert "ADD_TOKENS_TO_NOREPLY_ADDRESS = False" in h.check_output("cat /srv/aloha-config/settings.py")
    assert server_state(TARGET)["settings"] == file_digests(TARGET)[SETTINGS]
