# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files as a run's transaction sees them: what a path holds now (through
its symlinks), and writing it back atomically.

Operators keep /etc/aloha under etckeeper, in a config repository or on a
volume, so settings.py and aloha-secrets.conf may be symlinks: every write
goes to the link's target and the link stays a link. Stdlib only: runs on
the target's python3.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import stat
import tempfile


def target_of(path):
    """The file a write to PATH must change: PATH itself, or the file its
    symlink chain ends at (which may not exist yet)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def read_state(path):
    """PATH as it is now: whether it exists, its link, and its target's
    content (base64), owner, group and mode. Content and metadata are of
    the target, which is what a rollback must put back."""
    state = dict(path=path, exists=False, link=None)
    if os.path.islink(path):
        state["link"] = os.readlink(path)
    target = target_of(path)
    state["target"] = target
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return state
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("%s is not a regular file" % target)
    with open(target, "rb") as handle:
        data = handle.read()
    state.update(
        exists=True,
        content=base64.b64encode(data).decode("ascii"),
        uid=st.st_uid,
        gid=st.st_gid,
        owner=_name(pwd.getpwuid, st.st_uid),
        group=_name(grp.getgrgid, st.st_gid),
        mode="%04o" % stat.S_IMODE(st.st_mode),
    )
    return state


def atomic_write(path, data, uid=None, gid=None, mode=None):
    """Replace PATH's target with DATA (bytes) in one rename: a reader sees
    the old file or the new one, never part of either. The temporary file
    is private (0600) until it has its final owner and mode, so a secret
    is never readable by others, not even for a moment."""
    target = target_of(path)
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if uid is not None or gid is not None:
                os.fchown(handle.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
        os.rename(tmp, target)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def restore_state(state):
    """Put STATE (from read_state) back; return True when anything changed.

    A file that existed gets its content, owner, group and mode back, written
    to the link's target when the path is a link. A file that did not exist
    is removed. A link that was there is put back pointing where it did."""
    path = state["path"]
    changed = False
    link = state.get("link")
    if link is not None and not (os.path.islink(path) and os.readlink(path) == link):
        # The run never replaces links; this only repairs a link some other
        # writer replaced, so the target below is the operator's file again.
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(link, path)
        changed = True
    target = target_of(path)
    if not state["exists"]:
        if os.path.lexists(target):
            os.unlink(target)
            changed = True
        return changed
    data = base64.b64decode(state["content"])
    mode = int(state["mode"], 8)
    try:
        st = os.stat(target)
        with open(target, "rb") as handle:
            same = handle.read() == data
        same = same and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (state["uid"], state["gid"], mode)
    except FileNotFoundError:
        same = False
    if not same:
        atomic_write(path, data, state["uid"], state["gid"], mode)
        changed = True
    return changed
