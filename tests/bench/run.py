#!/usr/bin/env python3
"""Fleet benchmark: the role against N Aloha hosts reached over SSH, next to
a floor (a minimal hand-written playbook doing the same two writes and two
commands). Prints wall seconds, seconds per host, role/floor ratios and the
controller's peak memory. Figures, not a pass/fail test: these machines are
shared and noisy, so compare the ratios of one run.

Usage (after scripts/setup, from the repo root):
    .venv/bin/python tests/bench/run.py [N ...]     default: 10 20 40
    --keep   leave the containers running afterwards
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "aloha-email-bench"
IMAGE = "localhost/aloha-email-test:debian12"
PASSWORD = "s3cret-Pa55"  # the SMTP fixture's default account password


def env():
    e = dict(os.environ)
    e.update(
        ALOHA_ROOT=str(ROOT),
        CONTAINERS_CONF=str(ROOT / "tests/images/containers.conf"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        PATH="%s:%s" % (ROOT / ".venv/bin", e["PATH"]),
        ANSIBLE_FORCE_COLOR="0",
    )
    return e


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, env=env(), cwd=ROOT, **kw)


def tree_rss_kb(pid):
    """Resident memory of a process and all its descendants, in KiB."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def timed(cmd):
    """(wall seconds, peak controller RSS MiB, returncode, output) of cmd."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out = proc.communicate()[0]
    t.join()
    return time.monotonic() - start, peak[0] / 1024.0, proc.returncode, out


def start_containers(n):
    names = ["%s-smtp" % PREFIX] + ["%s-%02d" % (PREFIX, i) for i in range(1, n + 1)]
    running = set(subprocess.run(["podman", "ps", "--format", "{{.Names}}"], env=env(), capture_output=True,
                                 text=True).stdout.split())
    for name in names:
        if name in running:
            continue
        subprocess.run(["podman", "rm", "-f", name], env=env(), capture_output=True)
        extra = ["--cap-add", "NET_ADMIN"] if name.endswith("smtp") else []
        sh(["podman", "run", "-d", "--name", name, "--hostname", name, "--systemd=always"] + extra
           + [IMAGE, "/sbin/init"], stdout=subprocess.DEVNULL)
    return names[0], names[1:]


def prepare(smtp, hosts, workdir):
    inventory = workdir / "podman.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {"smtp": {"hosts": {smtp: None}}, "aloha": {"hosts": {h: None for h in hosts}}}}}))
    print("==> Preparing %d hosts (fixtures and sshd; not measured)" % len(hosts), flush=True)
    sh(["ansible-playbook", "-i", str(inventory), "-f", "10", "tests/fixtures/prepare.yml"], stdout=subprocess.DEVNULL)
    sh(["ansible-playbook", "-i", str(inventory), "-f", "10", "tests/fixtures/sshd.yml",
        "-e", "aloha_test_ssh_dir=%s" % workdir], stdout=subprocess.DEVNULL)
    return yaml.safe_load((workdir / "hosts.yml").read_text())


def ssh_inventory(base, hosts, workdir, n):
    all_hosts = base["all"]["children"]["aloha"]["children"]["aloha_ssh"]["hosts"]
    inv = {"all": {"vars": dict(base["all"]["vars"], **{
        "aloha_email_host": "smtp.aloha.test",
        "aloha_email_host_user": "aloha@aloha.test",
        "aloha_email_test_recipient": "ops+{{ inventory_hostname }}@example.net",
        "bench_files": str(workdir / "files"),
    }), "children": {"aloha": {"hosts": {h: all_hosts[h] for h in hosts[:n]}}}}}
    path = workdir / ("ssh-%d.yml" % n)
    path.write_text(yaml.safe_dump(inv))
    return str(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 20, 40])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="aloha-bench-"))
    smtp, hosts = start_containers(max(args.sizes))
    base = prepare(smtp, hosts, workdir)
    password = ["-e", "aloha_email_password=%s" % PASSWORD]
    rows = []
    for n in args.sizes:
        inv = ssh_inventory(base, hosts, workdir, n)
        sh(["ansible-playbook", "-i", inv, "tests/bench/reset.yml"], stdout=subprocess.DEVNULL)
        figures = {}
        for label, cmd in [
            ("first rollout", ["ansible-playbook", "-i", inv, "site.yml"] + password),
            ("no-change re-run", ["ansible-playbook", "-i", inv, "site.yml"] + password),
            ("check-mode audit", ["ansible-playbook", "-i", inv, "playbooks/audit.yml", "--check"] + password),
        ]:
            figures[label] = timed(cmd)
            if figures[label][2] != 0:
                print(figures[label][3][-3000:])
                sys.exit("%s failed for N=%d" % (label, n))
            # A re-run that changes something is not the run being measured.
            if label == "no-change re-run":
                changed = re.findall(r"^(\S+)\s*:.* changed=([1-9][0-9]*)", figures[label][3], re.M)
                if changed:
                    print(figures[label][3][-3000:])
                    sys.exit("the no-change re-run changed %s for N=%d" % (changed, n))
        sh(["ansible-playbook", "-i", inv, "tests/bench/reset.yml", "--tags", "fetch"], stdout=subprocess.DEVNULL)
        figures["floor"] = timed(["ansible-playbook", "-i", inv, "tests/bench/floor.yml"])
        if figures["floor"][2] != 0:
            print(figures["floor"][3][-3000:])
            sys.exit("floor failed for N=%d" % n)
        rows.append((n, figures))
        print("==> N=%d done" % n, flush=True)

    floor_label = "floor (2 writes + 2 commands)"
    print("\n| N | run | wall s | s/host | role/floor | peak controller MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, figures in rows:
        floor = figures["floor"][0]
        for label in ("first rollout", "no-change re-run", "check-mode audit", "floor"):
            wall, mem, _, _ = figures[label]
            ratio = "%.2f" % (wall / floor) if label != "floor" else "1.00"
            print("| %d | %s | %.1f | %.2f | %s | %.0f |" % (
                n, floor_label if label == "floor" else label, wall, wall / n, ratio, mem))
    if not args.keep:
        subprocess.run(["podman", "rm", "-f", smtp] + hosts, env=env(), capture_output=True)


if __name__ == "__main__":
    main()
