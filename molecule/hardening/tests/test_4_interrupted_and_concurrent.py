"""A write killed in the middle leaves settings.py and the secrets file
either old or new, never partial; two runs at once corrupt neither.

The kill lands inside the module's write, at a point the test controls: a
watcher in the container (tests/lib/interrupt_watch.py, inotify) SIGKILLs
the module's python process the moment the write shows -- its temporary
file appears next to the target, or the target itself is opened for
writing. Both files are padded with a few MB first (a long string in
settings.py, a long value in the secrets file), so the write takes long
enough for the kill to land inside write(2). A try counts only when it is
confirmed: the temporary file is left behind (the kill came between its
creation and the rename); some must show it shorter than the new file
(inside the write). Tries whose kill came after the rename are not
counted, but their files must be whole too. Every third try watches the target itself instead: it must
be replaced by a rename, never opened for writing in place; a writer that
writes it in place (with or without a temporary file first) is killed
there and leaves a partial target.

The modules run through the `ansible` ad-hoc command (one task, no rescue
that would repair the files afterwards), with the role's library and
module_utils; ALOHA_TEST_ROLE_DIR points at another copy of the role (a
mutant) instead."""

import json
import os
import re
import signal
import subprocess

import pytest

from alohatest import (INVENTORY, ROOT, host, host_names, read_secrets, run_role, secrets_value, section,
                       settings_compile_check, vault_password)

TARGET = host_names("aloha")[0]
A = {"aloha_email_noreply_address": "noreply@a.aloha.test", "aloha_email_port": 587}
B = {"aloha_email_noreply_address": "noreply@b.aloha.test", "aloha_email_port": 587}
SETTINGS, SECRETS = "/etc/aloha/settings.py", "/etc/aloha/aloha-secrets.conf"
ROLE_DIR = os.environ.get("ALOHA_TEST_ROLE_DIR", str(ROOT / "roles/aloha_email"))
PADDING = 6 * 1024 * 1024
CONFIRMED = 5      # tries per file that must land mid-write ...
MAX_TRIES = 14     # ... within this many (some kills land after the rename)
OTHER_PASSWORD = "Interrupted%pass;#2"


def current(h):
    lines, _ = section(h.file(SETTINGS).content_string)
    return [ln for ln in lines if ln.startswith("NOREPLY_EMAIL_ADDRESS")]


def assert_whole(h, allowed_sections):
    assert settings_compile_check(h).rc == 0
    assert current(h) in allowed_sections
    secrets = read_secrets(h.file(SECRETS).content_string)
    seed = read_secrets(h.file("/var/lib/aloha-standin/seed/aloha-secrets.conf").content_string)
    for key, value in seed.items("secrets"):
        assert secrets.get("secrets", key) == value
    assert secrets_value(h).strip() == repr(vault_password())


def digest(h, path):
    return h.check_output("sha256sum %s" % path).split()[0]


def run_module(module, args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "tests/ansible.cfg"), ANSIBLE_LIBRARY=ROLE_DIR + "/library",
               ANSIBLE_MODULE_UTILS=ROLE_DIR + "/module_utils", ANSIBLE_NOCOLOR="1")
    return subprocess.run(["ansible", TARGET, "-i", INVENTORY, "-m", module, "-a", json.dumps(args)],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def settings_args(h, noreply):
    """The section as it is, with NOREPLY_EMAIL_ADDRESS set to NOREPLY."""
    lines, _ = section(h.file(SETTINGS).content_string)
    body = [ln for ln in lines if not ln.startswith("NOREPLY_EMAIL_ADDRESS")]
    body.append('NOREPLY_EMAIL_ADDRESS = "%s"' % noreply)
    names = sorted({m.group(1) for m in (re.match(r"([A-Z_]+) = ", ln) for ln in body) if m})
    return dict(path=SETTINGS, content="\n".join(body), managed_names=names,
                owner="aloha", group="aloha", mode="0644")


def secret_args(value):
    return dict(path=SECRETS, key="email_password", value=value, owner="aloha", group="aloha", mode="0640")


def watch(mode, target, prefix):
    """Start the watcher in the container; returns the process once it watches."""
    proc = subprocess.Popen(["podman", "exec", "-i", TARGET, "python3", "-", mode, "/etc/aloha", target, prefix],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write((ROOT / "tests/lib/interrupt_watch.py").read_text())
    proc.stdin.close()
    proc.stdin = None       # communicate() later must not flush it
    ready = proc.stdout.readline().split()
    assert ready[:1] == ["READY"], proc.stderr.read()
    proc.container_pid = ready[1]
    return proc


@pytest.fixture(scope="module")
def padded():
    """Both files with a few MB of padding; put back as they were after
    (copies kept in the container: the files are too big for a command line)."""
    h = host(TARGET)
    stats = h.check_output("stat -c '%U %G %a' " + SETTINGS + " " + SECRETS)
    h.check_output("cp -p %s /var/tmp/interrupt-settings.py && cp -p %s /var/tmp/interrupt-secrets.conf"
                   % (SETTINGS, SECRETS))
    h.check_output("python3 -c \"open('%s', 'a').write('\\nALOHA_TEST_PADDING = \\\"%s\\\"\\n' %% ('x' * %d))\""
                   % (SETTINGS, "%s", PADDING))
    h.check_output("python3 -c \"open('%s', 'a').write('aloha_test_padding = %%s\\n' %% ('x' * %d))\""
                   % (SECRETS, PADDING))
    assert settings_compile_check(h).rc == 0
    assert int(h.check_output("stat -c %%s %s" % SETTINGS)) > PADDING
    yield h
    h.check_output("rm -f /etc/aloha/.settings.py.* /etc/aloha/.aloha-secret* /etc/aloha/.aloha-secrets.conf.*")
    h.check_output("cp -p /var/tmp/interrupt-settings.py %s && cp -p /var/tmp/interrupt-secrets.conf %s"
                   " && rm /var/tmp/interrupt-settings.py /var/tmp/interrupt-secrets.conf" % (SETTINGS, SECRETS))
    assert h.check_output("stat -c '%U %G %a' " + SETTINGS + " " + SECRETS) == stats


@pytest.mark.parametrize("which", ["settings", "secrets"])
def test_write_killed_mid_write_leaves_old_or_new_never_partial(padded, which):
    h = padded
    path, target, prefix = {
        "settings": (SETTINGS, "settings.py", ".settings.py."),
        "secrets": (SECRETS, "aloha-secrets.conf", ".aloha-secret"),
    }[which]
    confirmed = inside = renamed = 0
    tries = []
    for i in range(MAX_TRIES):
        if confirmed >= CONFIRMED and inside >= 1 and renamed >= 1:
            break
        if which == "settings":
            new = "noreply-%d@interrupt.aloha.test" % i
            module, args = "aloha_settings_section", settings_args(h, new)
        else:
            module, args = "aloha_secret", secret_args(OTHER_PASSWORD if i % 2 == 0 else vault_password())
        # Every third try: is the target ever written in place? (An atomic
        # writer only renames onto it; the watcher then kills nothing.)
        mode = "late" if i % 3 == 2 else "early"
        old = digest(h, path)
        watcher = watch(mode, target, prefix)
        killed_run = run_module(module, args)
        try:
            out, err = watcher.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # It saw no write: stop it in the container, or it would kill
            # the next run's module.
            h.run("kill -9 %s" % watcher.container_pid)
            watcher.send_signal(signal.SIGKILL)
            out, err = watcher.communicate()
        report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        after_kill = digest(h, path)
        # Whole right after the kill (a partial settings.py does not compile,
        # a partial secrets file lacks its last lines) ...
        assert settings_compile_check(h).rc == 0, ("partial after the kill", which, i, report)
        assert "[secrets]" in h.check_output("head -c 4096 %s" % SECRETS)
        assert secrets_value(h, "secret_key").strip() != "None", ("partial after the kill", which, i, report)
        # ... and byte for byte the old or the new file: the same write, not
        # interrupted, gives the new one.
        done = run_module(module, args)
        assert done.returncode == 0, done.stdout
        new_digest, new_size = digest(h, path), int(h.check_output("stat -c %%s %s" % path))
        tries.append(dict(mode=mode, report=report, rc=killed_run.returncode))
        if mode == "late":
            assert report == dict(renamed=True, killed=[], temp={}), ("target written in place", report)
            assert killed_run.returncode == 0, killed_run.stdout
            renamed += 1
        # Never partial: byte for byte the old file or the new one.
        assert after_kill in (old, new_digest), (which, i, report, killed_run.stdout[-2000:])
        assert settings_compile_check(h).rc == 0
        if report.get("killed") and report.get("temp"):
            confirmed += 1
            inside += any(size < new_size for size in report["temp"].values())
            assert after_kill == old, "the kill came before the rename, yet the target changed"
        h.check_output("rm -f /etc/aloha/%s*" % prefix)
    # Each try counted only when the kill is shown to have landed mid-write
    # (temporary file left), at least one inside write(2) itself (shorter
    # than the new file).
    assert confirmed >= CONFIRMED and inside >= 1 and renamed >= 1, tries
    if which == "secrets":
        assert run_module("aloha_secret", secret_args(vault_password())).returncode == 0
        assert secrets_value(h).strip() == repr(vault_password())


def test_two_runs_at_once_do_not_corrupt_the_files():
    h = host(TARGET)
    first, second = run_role(TARGET, A, wait=False), run_role(TARGET, B, wait=False)
    first.communicate(), second.communicate()
    assert_whole(h, [['NOREPLY_EMAIL_ADDRESS = "noreply@a.aloha.test"'],
                     ['NOREPLY_EMAIL_ADDRESS = "noreply@b.aloha.test"']])
    # And the host still works afterwards.
    proc = run_role(TARGET, A, extra_args=["-e", "aloha_email_verify_force=true"])
    assert proc.returncode == 0, proc.stdout
