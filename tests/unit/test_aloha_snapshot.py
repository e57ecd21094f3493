"""module_utils/aloha_email_files (read_state, restore_state, atomic_write)
and the aloha_snapshot module: a snapshot records what a path holds
(through symlinks), and a restore puts exactly that back."""

import base64
import os
import stat

import pytest

from ansible.module_utils import aloha_email_files as files


def test_target_of_follows_a_symlink_chain(tmp_path):
    real = tmp_path / "real"
    real.write_text("x")
    (tmp_path / "one").symlink_to(real)
    (tmp_path / "two").symlink_to(tmp_path / "one")
    assert files.target_of(str(tmp_path / "two")) == str(real)
    assert files.target_of(str(real)) == str(real)


def test_read_state_of_a_file(tmp_path):
    path = tmp_path / "settings.py"
    path.write_bytes(b"A = 1\r\n\x00\xff")
    os.chmod(path, 0o640)
    state = files.read_state(str(path))
    st = os.stat(path)
    assert state["exists"] is True and state["link"] is None and state["target"] == str(path)
    assert base64.b64decode(state["content"]) == b"A = 1\r\n\x00\xff"
    assert (state["uid"], state["gid"], state["mode"]) == (st.st_uid, st.st_gid, "0640")
    assert state["owner"] and state["group"]


def test_read_state_of_a_missing_file_and_a_link(tmp_path):
    state = files.read_state(str(tmp_path / "nope"))
    assert state == dict(path=str(tmp_path / "nope"), exists=False, link=None, target=str(tmp_path / "nope"))
    (tmp_path / "real").write_text("data")
    (tmp_path / "link").symlink_to("real")
    state = files.read_state(str(tmp_path / "link"))
    assert (state["link"], state["target"], state["exists"]) == ("real", str(tmp_path / "real"), True)
    assert base64.b64decode(state["content"]) == b"data"


def test_read_state_refuses_a_directory(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        files.read_state(str(tmp_path))


def test_unknown_ids_are_named_by_number():
    assert files._name(lambda ident: (_ for _ in ()).throw(KeyError(ident)), 4242) == "4242"
    assert files._name(lambda ident: ("root",), 0) == "root"


def test_atomic_write_replaces_in_one_rename_with_owner_and_mode(tmp_path):
    path = tmp_path / "secrets.conf"
    path.write_text("old")
    inode = os.stat(path).st_ino
    st = os.stat(path)
    target = files.atomic_write(str(path), b"new", st.st_uid, st.st_gid, 0o600)
    assert target == str(path)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.stat(path).st_ino != inode
    assert sorted(os.listdir(tmp_path)) == ["secrets.conf"]


def test_atomic_write_through_a_link_keeps_the_link(tmp_path):
    (tmp_path / "real").write_text("old")
    link = tmp_path / "link"
    link.symlink_to("real")
    assert files.atomic_write(str(link), b"new") == str(tmp_path / "real")
    assert link.is_symlink() and os.readlink(link) == "real"
    assert (tmp_path / "real").read_bytes() == b"new"


def test_atomic_write_failure_leaves_no_temp_file_and_the_old_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(TypeError):
        files.atomic_write(str(path), "text, not bytes")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize("change", ["content", "mode", "missing", "link-replaced", "created"])
def test_restore_state_puts_back_exactly(tmp_path, change):
    (tmp_path / "real").write_bytes(b"operator's\n")
    os.chmod(tmp_path / "real", 0o604)
    link = tmp_path / "link"
    link.symlink_to("real")
    state = files.read_state(str(link))
    if change == "content":
        (tmp_path / "real").write_bytes(b"role's\n")
    elif change == "mode":
        os.chmod(tmp_path / "real", 0o644)
    elif change == "missing":
        os.unlink(tmp_path / "real")
    elif change == "link-replaced":
        os.unlink(link)
        link.write_bytes(b"a plain file now")
    if change == "created":
        absent = files.read_state(str(tmp_path / "new"))
        (tmp_path / "new").write_text("created by the run")
        assert files.restore_state(absent) is True
        assert not (tmp_path / "new").exists()
        assert files.restore_state(absent) is False
        return
    assert files.restore_state(state) is True
    assert link.is_symlink() and os.readlink(link) == "real"
    assert (tmp_path / "real").read_bytes() == b"operator's\n"
    assert stat.S_IMODE(os.stat(tmp_path / "real").st_mode) == 0o604
    # Nothing left to do the second time.
    assert files.restore_state(state) is False
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


def test_snapshot_module_reads_and_restores(run_module, tmp_path):
    path = tmp_path / "settings.py"
    path.write_text("A = 1\n")
    os.chmod(path, 0o640)
    proc, result = run_module("aloha_snapshot", dict(paths=[str(path), str(tmp_path / "absent")]))
    assert result and not result.get("failed"), proc.stdout
    assert result["changed"] is False
    snap = result["snapshot"]
    assert [f["exists"] for f in snap["files"]] == [True, False] and snap["services"] == {}
    path.write_text("B = 2\n")
    (tmp_path / "absent").write_text("new")
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=snap), check=True)
    assert result["changed"] is False and path.read_text() == "B = 2\n", proc.stdout
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=snap))
    assert result["changed"] is True, proc.stdout
    # (The paths come from the no_log snapshot, so Ansible masks them.)
    assert len(result["restored"]) == 2
    assert path.read_text() == "A = 1\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert not (tmp_path / "absent").exists()
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=snap))
    assert result["changed"] is False and result["restored"] == []


def test_snapshot_module_refuses_what_it_cannot_record(run_module, tmp_path):
    proc, result = run_module("aloha_snapshot", dict(paths=[str(tmp_path)]))
    assert result["failed"] and result["cause"] == "snapshot_failed", proc.stdout
    assert result["msg"] == "Cannot record the current configuration: %s is not a regular file" % tmp_path
    proc, result = run_module("aloha_snapshot", dict(state="restore"))
    assert result["failed"] and "snapshot" in result["msg"]


def test_read_state_refusal_names_the_path(tmp_path):
    with pytest.raises(ValueError) as info:
        files.read_state(str(tmp_path))
    assert str(info.value) == "%s is not a regular file" % tmp_path


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
@pytest.mark.parametrize("uid, gid", [(65534, 65534), (65534, None), (None, 65534), (None, None)])
def test_atomic_write_gives_the_owner_and_group_asked_for(tmp_path, uid, gid):
    path = tmp_path / "f"
    path.write_text("old")
    os.chown(path, 0, 0)
    files.atomic_write(str(path), b"new", uid, gid, 0o640)
    st = os.stat(path)
    # None keeps the writer's (root's) id for that part.
    assert (st.st_uid, st.st_gid) == (0 if uid is None else uid, 0 if gid is None else gid)


def test_atomic_write_renames_a_private_temporary_file_next_to_the_target(tmp_path, monkeypatch):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("old")
    renamed = []
    real_rename = os.rename

    def spy(src, dst):
        st = os.stat(src)
        renamed.append((src, dst, stat.S_IMODE(st.st_mode), open(src, "rb").read()))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    files.atomic_write(str(path), b"new", mode=0o600)
    (src, dst, mode, data), = renamed
    assert os.path.dirname(src) == str(tmp_path) and dst == str(path)
    assert os.path.basename(src).startswith(".aloha-secrets.conf.")
    assert (mode, data) == (0o600, b"new")


def test_atomic_write_of_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").write_text("old")
    assert files.atomic_write("rel", b"new") == "rel"
    assert (tmp_path / "rel").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["rel"]


FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl stand-in: state in $FAKE_SYSTEMD/<unit>.active|.enabled, calls logged.
dir="$FAKE_SYSTEMD"
echo "$*" >> "$dir/log"
case "$1" in
  # As systemctl: an option it does not know is an error (exit 1).
  is-active|is-enabled)
     [ "$2" = --quiet ] || { echo "systemctl: unrecognized option '$2'" >&2; exit 1; }
     [ -e "$dir/$3.${1#is-}" ];;
  *) [ -e "$dir/fail-$1" ] && { echo "unit $2 refused $1" >&2; exit 5; }
     case "$1" in
       enable) touch "$dir/$2.enabled";; disable) rm -f "$dir/$2.enabled";;
       restart) touch "$dir/$2.active";; stop) rm -f "$dir/$2.active";;
     esac;;
esac
"""


@pytest.fixture
def fake_systemd(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "systemd"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    os.chmod(bin_dir / "systemctl", 0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_SYSTEMD", str(state))

    def set_state(unit, active, enabled):
        for flag, on in (("active", active), ("enabled", enabled)):
            path = state / ("%s.%s" % (unit, flag))
            path.touch() if on else path.unlink(missing_ok=True)

    def actions():
        log = state / "log"
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return [c for c in calls if not c.startswith("is-")]

    return set_state, actions, state


@pytest.mark.parametrize("was, now, restarted, expected", [
    ((True, True), (True, True), [], []),
    ((True, True), (True, True), ["aloha"], ["restart aloha"]),
    ((True, True), (False, True), [], ["restart aloha"]),
    ((True, True), (False, False), [], ["enable aloha", "restart aloha"]),
    ((False, False), (True, True), [], ["disable aloha", "stop aloha"]),
    ((False, True), (True, True), ["aloha"], ["stop aloha"]),
])
def test_restore_puts_each_service_back_as_it_was(run_module, fake_systemd, was, now, restarted, expected):
    set_state, actions, _ = fake_systemd
    set_state("aloha", *was)
    proc, result = run_module("aloha_snapshot", dict(services=["aloha"]))
    assert result["snapshot"]["services"] == {"aloha": dict(active=was[0], enabled=was[1])}, proc.stdout
    assert actions() == []
    set_state("aloha", *now)
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=result["snapshot"],
                                                     restarted=restarted))
    assert not result.get("failed"), proc.stdout
    assert actions() == expected
    assert result["changed"] is bool(expected) and len(result["restored"]) == (1 if expected else 0)


def test_a_failed_service_action_fails_the_rollback(run_module, fake_systemd):
    set_state, actions, state = fake_systemd
    set_state("aloha", True, True)
    _, result = run_module("aloha_snapshot", dict(services=["aloha"]))
    (state / "fail-restart").touch()
    set_state("aloha", False, True)
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=result["snapshot"]))
    assert result["failed"] and result["cause"] == "rollback_failed", proc.stdout
    assert result["msg"] == ("systemctl restart aloha failed during the rollback (rc 5): unit aloha refused restart")


def test_snapshot_module_reads_in_check_mode(run_module, tmp_path):
    # --check and the audit run the transaction's snapshot in check mode.
    path = tmp_path / "settings.py"
    path.write_text("A = 1\n")
    proc, result = run_module("aloha_snapshot", dict(paths=[str(path)]), check=True)
    assert "skipped" not in result, proc.stdout
    assert [f["content"] for f in result["snapshot"]["files"]] == [base64.b64encode(b"A = 1\n").decode()]


def test_a_file_that_cannot_be_put_back_fails_the_rollback(run_module, tmp_path):
    directory = tmp_path / "etc"
    directory.mkdir()
    path = directory / "settings.py"
    path.write_text("A = 1\n")
    _, result = run_module("aloha_snapshot", dict(paths=[str(path)]))
    path.unlink()
    directory.rmdir()
    proc, result = run_module("aloha_snapshot", dict(state="restore", snapshot=result["snapshot"]))
    assert result["failed"] is True and result["cause"] == "rollback_failed", proc.stdout
    assert result["restored"] == []
    # The path comes from the no_log snapshot, so Ansible masks it.
    assert result["msg"].startswith("Could not restore ********: [Errno 2] No such file or directory: "), result


def test_snapshot_paths_are_expanded_like_ansible_paths(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv("ALOHA_UNIT_SNAPSHOT_DIR", str(tmp_path))
    proc, result = run_module("aloha_snapshot", dict(paths=["$ALOHA_UNIT_SNAPSHOT_DIR/absent"]))
    assert [f["path"] for f in result["snapshot"]["files"]] == [str(tmp_path / "absent")], proc.stdout
