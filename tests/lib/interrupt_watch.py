"""Runs INSIDE an Aloha test container (fed to `python3 -` on stdin):
kills the role's module in the middle of its write, at a point the test
controls, and reports what it found.

Arguments: MODE DIRECTORY TARGET [TEMP_PREFIX ...]

MODE "early": kill at the first sign of a write (below).
MODE "late": ignore the temporary file; kill only when TARGET itself is
opened for writing or modified (an in-place write), and report
{"renamed": true} without killing anything when TARGET is replaced by a
rename first (an atomic writer never writes the target in place).

It watches DIRECTORY with inotify (through ctypes: nothing to install).
The first event that shows a write under way -- a file named
TEMP_PREFIX* created next to the target (an atomic writer's temporary
file), or TARGET itself opened for writing or modified (a writer that
writes the target in place) -- makes it SIGKILL at once every python
process that started after the watcher (the module; pipelining runs it as
a fresh python3), without a moment's wait: a SIGKILL lands inside the
write(2) itself. It then prints one JSON line:

  {"trigger": name, "killed": [pids], "temp": {name: size}, "target_size": n}

temp lists the temporary files left next to the target after the kill
(the module had created one and not yet renamed it: the kill landed
mid-write), with their sizes (less than the new file's: inside the write).
"""

import ctypes
import json
import os
import signal
import struct
import sys

IN_MODIFY, IN_CLOSE_WRITE, IN_CREATE, IN_OPEN, IN_MOVED_TO = 0x2, 0x8, 0x100, 0x20, 0x80


def python_pids(exclude):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open("/proc/%s/comm" % entry) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("python"):
            found.append(int(entry))
    return found


def main():
    mode, directory, target = sys.argv[1], sys.argv[2], sys.argv[3]
    prefixes = tuple(sys.argv[4:])
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init()
    if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_CREATE | IN_MODIFY | IN_OPEN | IN_MOVED_TO) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    before = set(python_pids(set())) | {os.getpid()}
    # Never outlive the test: a watcher left behind would kill a later run.
    signal.alarm(int(os.environ.get("WATCH_TIMEOUT", "120")))
    print("READY %d" % os.getpid(), flush=True)
    trigger = None
    while trigger is None:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            _, mask, _, length = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + length].rstrip(b"\0").decode()
            i += 16 + length
            if mode == "late" and name == target and mask & IN_MOVED_TO:
                print(json.dumps(dict(renamed=True, killed=[], temp={})), flush=True)
                return
            if (mode == "early" and mask & IN_CREATE and prefixes and name.startswith(prefixes)) or \
                    (name == target and mask & IN_MODIFY):
                trigger = name
                break
            if name == target and mask & IN_OPEN:
                # Opened: for writing? (a reader opens it too)
                for pid in python_pids(before):
                    try:
                        for fdname in os.listdir("/proc/%d/fd" % pid):
                            link = os.readlink("/proc/%d/fd/%s" % (pid, fdname))
                            if link == os.path.join(directory, target):
                                with open("/proc/%d/fdinfo/%s" % (pid, fdname)) as f:
                                    flags = next(int(line.split()[1], 8) for line in f
                                                 if line.startswith("flags:"))
                                if flags & 0o3:
                                    trigger = name
                    except OSError:
                        pass
    killed = []
    for pid in python_pids(before):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    for pid in killed:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    # Killed processes are gone (or zombies) once SIGKILL is through; they
    # are not our children.
    def alive(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                return "State:\tZ" not in f.read()
        except OSError:
            return False
    while any(alive(pid) for pid in killed):
        pass
    temp = {}
    for name in os.listdir(directory):
        if prefixes and name.startswith(prefixes):
            temp[name] = os.path.getsize(os.path.join(directory, name))
    print(json.dumps(dict(trigger=trigger, killed=killed, temp=temp,
                          target_size=os.path.getsize(os.path.join(directory, target)))), flush=True)


if __name__ == "__main__":
    main()
