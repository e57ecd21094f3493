"""A run killed while it writes leaves settings.py and the secrets file
either old or new, never partial; two runs at once corrupt neither."""

import os
import signal
import time

import pytest

from alohatest import host, host_names, read_secrets, run_role, secrets_value, section, settings_compile_check, \
    vault_password

TARGET = host_names("aloha")[0]
A = {"aloha_email_noreply_address": "noreply@a.aloha.test", "aloha_email_port": 587}
B = {"aloha_email_noreply_address": "noreply@b.aloha.test", "aloha_email_port": 587}


def current(h):
    lines, _ = section(h.file("/etc/aloha/settings.py").content_string)
    return [ln for ln in lines if ln.startswith("NOREPLY_EMAIL_ADDRESS")]


def assert_whole(h, allowed_sections):
    assert settings_compile_check(h).rc == 0
    assert current(h) in allowed_sections
    secrets = read_secrets(h.file("/etc/aloha/aloha-secrets.conf").content_string)
    seed = read_secrets(h.file("/var/lib/aloha-standin/seed/aloha-secrets.conf").content_string)
    for key, value in seed.items("secrets"):
        assert secrets.get("secrets", key) == value
    assert secrets_value(h).strip() == repr(vault_password())


@pytest.mark.parametrize("delay", [3.0, 5.0, 7.0, 9.0, 11.0])
def test_killed_run_leaves_old_or_new_files(delay):
    h = host(TARGET)
    before = current(h)
    target = B if before == ['NOREPLY_EMAIL_ADDRESS = "noreply@a.aloha.test"'] else A
    proc = run_role(TARGET, target, wait=False)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Give a module already running on the host the time to finish.
    time.sleep(2)
    new = ['NOREPLY_EMAIL_ADDRESS = "%s"' % target["aloha_email_noreply_address"]]
    assert_whole(h, [before, new])


def test_two_runs_at_once_do_not_corrupt_the_files():
    h = host(TARGET)
    first, second = run_role(TARGET, A, wait=False), run_role(TARGET, B, wait=False)
    first.communicate(), second.communicate()
    assert_whole(h, [['NOREPLY_EMAIL_ADDRESS = "noreply@a.aloha.test"'],
                     ['NOREPLY_EMAIL_ADDRESS = "noreply@b.aloha.test"']])
    # And the host still works afterwards.
    proc = run_role(TARGET, A, extra_args=["-e", "aloha_email_verify_force=true"])
    assert proc.returncode == 0, proc.stdout
