#!/usr/bin/env python3
"""Fleet benchmark: the role against N Aloha hosts reached over SSH, next to
two floors: the idempotent floor (tests/bench/floor_idempotent.yml, two
`copy` tasks with the restart and the test emails as handlers: what an
experienced operator writes instead of the role) and tests/bench/floor.yml
(the same writes, restart and test emails on every run), plus
`ansible.builtin.ping` (tests/bench/ping.yml: one module round trip per host,
the physical floor).
Prints wall seconds, seconds per host, the ratios against both floors, the
controller's peak memory, and for the no-change runs the module round
trips per host (task executions that reached the host, counted by the
callback in tests/bench/callback_plugins, and the SSH commands in the -vvv
output of a separate, unmeasured run). Figures, not a pass/fail test: these
machines are shared and noisy, so compare the ratios of one run.

The hosts come from the fixture images (tests/images/build-fixtures, run
first; it rebuilds them only when their inputs changed): the stand-in Aloha with its files seeded, and the SMTP
server. Preparing them starts the containers and sshd; no fixture playbook
runs per host.

Usage (after scripts/setup, from the repo root):
    .venv/bin/python tests/bench/run.py [N ...]     default: 10 20 40
    --keep   leave the containers running afterwards
    --prefix NAME   container names NAME-smtp, NAME-01... (default
             aloha-email-bench; container names are per machine)
"""

import argparse
import concurrent.futures
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "aloha-email-bench"
PASSWORD = "s3cret-Pa55"  # the SMTP fixture's default account password


def fixture_image(tag):
    """Name of this clone's fixture image TAG (as scripts/env.sh names it)."""
    out = subprocess.run(["bash", "-c", 'source scripts/env.sh && echo "$ALOHA_FIXTURE_IMAGE"'], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    return "%s:%s" % (out, tag)


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


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd):
    """(wall seconds, peak controller RSS MiB, returncode, output, controller
    CPU seconds) of cmd. The CPU is the ansible-playbook process tree's
    (its forks and their SSH clients), not the hosts': what a controller
    sized for a fleet must supply."""
    cpu = children_cpu()
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
    return time.monotonic() - start, peak[0] / 1024.0, proc.returncode, out, children_cpu() - cpu


def podman_out(*args):
    return subprocess.run(["podman"] + list(args), env=env(), capture_output=True, text=True,
                          check=True).stdout.strip()


def address(name):
    return podman_out("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)


def start_containers(n, prefix):
    """The SMTP server and N stand-in hosts from the fixture images,
    started in parallel; running ones are reused."""
    smtp = "%s-smtp" % prefix
    hosts = ["%s-%02d" % (prefix, i) for i in range(1, n + 1)]
    running = set(podman_out("ps", "--format", "{{.Names}}").split())

    def run(name, image, extra):
        if name in running:
            return
        subprocess.run(["podman", "rm", "-f", name], env=env(), capture_output=True)
        sh(["podman", "run", "-d", "--name", name, "--hostname", name, "--systemd=always"] + extra
           + [image, "/sbin/init"], stdout=subprocess.DEVNULL)

    run(smtp, fixture_image("debian12-smtp"), ["--cap-add", "NET_ADMIN"])
    # What prepare.yml would add per host: the SMTP server's name.
    add_host = ["--add-host", "smtp.aloha.test:%s" % address(smtp)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda h: run(h, fixture_image("debian12-aloha-seeded"), add_host), hosts))
    return smtp, hosts


# One host key (ed25519: generating RSA keys costs seconds per host).
SSHD = """set -e
# systemctl enable --now fails while systemd is still booting (a loaded machine).
systemctl is-system-running --wait >/dev/null 2>&1 || true
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
install -d -m 700 /root/.ssh
cat >/root/.ssh/authorized_keys
systemctl enable --now ssh.service >/dev/null 2>&1
until systemctl is-active -q aloha-server.service; do sleep 0.2; done
"""


def prepare(smtp, hosts, workdir):
    """sshd with the controller's key on every host; the SSH inventory."""
    print("==> Preparing %d hosts (sshd from the baked image; not measured)" % len(hosts), flush=True)
    start = time.monotonic()
    key = workdir / "id_ed25519"
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aloha-email-bench", "-f", str(key)])
    pub = (workdir / "id_ed25519.pub").read_text()

    def one(name):
        subprocess.run(["podman", "exec", "-i", name, "sh", "-c", SSHD], input=pub, text=True, env=env(),
                       check=True)
        return name, address(name)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        addresses = dict(pool.map(one, hosts))
    print("==> Prepared %d hosts in %.0f s" % (len(hosts), time.monotonic() - start), flush=True)
    return {"all": {"vars": {
        "ansible_connection": "ssh", "ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
        "children": {"aloha": {"children": {"aloha_ssh": {"hosts": {
            h: {"ansible_host": addresses[h]} for h in hosts}}}}}}}


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


def counted(cmd, inv, hosts):
    """Module round trips per host of CMD (run once more, not measured):
    task executions that reached the host (callback bench_count) and SSH
    commands in the -vvv output. Each a (min, max) over the hosts."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        e = env()
        e.update(BENCH_COUNT_FILE=out.name, ANSIBLE_CALLBACKS_ENABLED="bench_count",
                 ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "tests/bench/callback_plugins"))
        proc = subprocess.run(cmd + ["-vvv"], env=e, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-3000:])
            sys.exit("%s failed while counting" % " ".join(cmd))
        tasks = json.loads(Path(out.name).read_text() or "{}")
    by_ip = {v["ansible_host"]: h for h, v in yaml.safe_load(Path(inv).read_text())
             ["all"]["children"]["aloha"]["hosts"].items()}
    execs = dict.fromkeys(hosts, 0)
    for ip in re.findall(r"^<(\S+)> SSH: EXEC ", proc.stdout, re.M):
        if ip in by_ip:
            execs[by_ip[ip]] += 1
    span = lambda values: (min(values), max(values))  # noqa: E731
    return span([tasks.get(h, 0) for h in hosts]), span(list(execs.values()))


def fmt_span(span):
    return "%d" % span[0] if span[0] == span[1] else "%d-%d" % span


README_BEGIN = "<!-- bench table: written by tests/bench/run.py --readme -->"
README_END = "<!-- end of bench table -->"


def write_readme(table, args, load_before, seconds):
    """Replace the README's bench table (between the markers) with TABLE,
    the command that made it, the date and the machine's load."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    begin, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    command = "tests/bench/run.py --readme %s" % " ".join(str(n) for n in args.sizes)
    block = "\n".join([
        "",
        "Made by `.venv/bin/python %s` on %s, %d CPUs, %.0f s in all; load average (1, 5, 15 min) "
        "%.1f/%.1f/%.1f before, %.1f/%.1f/%.1f after:" % (
            command, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), seconds,
            *load_before, *os.getloadavg()),
        "",
    ] + table + [""])
    readme.write_text(text[:begin] + block + text[end:])
    print("==> README.md: bench table written")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 20, 40])
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--readme", action="store_true",
                        help="put the table, with this command, into the README (between its bench markers)")
    args = parser.parse_args()
    started = time.monotonic()
    load_before = os.getloadavg()
    # The fixture images (rebuilt only when their inputs changed).
    sh(["tests/images/build-fixtures"])
    workdir = Path(tempfile.mkdtemp(prefix="aloha-bench-"))
    smtp, hosts = start_containers(max(args.sizes), args.prefix)
    base = prepare(smtp, hosts, workdir)
    password = ["-e", "aloha_email_password=%s" % PASSWORD]
    rows = []
    counts = {}

    def run(label, cmd, n, no_change=False):
        figures = timed(cmd)
        if figures[2] != 0:
            print(figures[3][-3000:])
            sys.exit("%s failed for N=%d" % (label, n))
        # A run that changes something is not the no-change run measured.
        if no_change:
            changed = re.findall(r"^(\S+)\s*:.* changed=([1-9][0-9]*)", figures[3], re.M)
            if changed:
                print(figures[3][-3000:])
                sys.exit("%s changed %s for N=%d" % (label, changed, n))
        return figures

    for n in args.sizes:
        inv = ssh_inventory(base, hosts, workdir, n)
        playbook = ["ansible-playbook", "-i", inv]
        sh(playbook + ["tests/bench/reset.yml"], stdout=subprocess.DEVNULL)
        figures = {}
        figures["ping"] = run("ping", playbook + ["tests/bench/ping.yml"], n)
        figures["first rollout"] = run("first rollout", playbook + ["site.yml"] + password, n)
        figures["no-change re-run"] = run("no-change re-run", playbook + ["site.yml"] + password, n, True)
        figures["check-mode audit"] = run("check-mode audit", playbook + ["playbooks/audit.yml", "--check"]
                                          + password, n)
        sh(playbook + ["tests/bench/reset.yml", "--tags", "fetch"], stdout=subprocess.DEVNULL)
        figures["floor.yml"] = run("floor.yml", playbook + ["tests/bench/floor.yml"], n)
        # floor.yml wrote the same files: the idempotent floor changes nothing.
        figures["idempotent floor"] = run("idempotent floor", playbook + ["tests/bench/floor_idempotent.yml"], n,
                                          True)
        if not counts:
            names = hosts[:n]
            counts["ping"] = counted(playbook + ["tests/bench/ping.yml"], inv, names)
            counts["idempotent floor"] = counted(playbook + ["tests/bench/floor_idempotent.yml"], inv, names)
            counts["no-change re-run"] = counted(playbook + ["site.yml"] + password, inv, names)
        rows.append((n, figures))
        print("==> N=%d done" % n, flush=True)

    labels = [
        ("ping", "`ansible.builtin.ping` (physical floor)"),
        ("idempotent floor", "idempotent floor, no change"),
        ("no-change re-run", "role, no-change re-run"),
        ("check-mode audit", "role, check-mode audit"),
        ("floor.yml", "tests/bench/floor.yml (writes + restart + send every run)"),
        ("first rollout", "role, first rollout"),
    ]
    table = ["| N | run | wall s | s/host | vs idempotent floor | vs floor.yml | module round trips/host "
             "(tasks / ssh) | peak controller MiB | controller CPU s/host |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, figures in rows:
        idem, floor = figures["idempotent floor"][0], figures["floor.yml"][0]
        for key, label in labels:
            wall, mem, _, _, cpu = figures[key]
            trips = "%s / %s" % tuple(fmt_span(s) for s in counts[key]) if key in counts else ""
            table.append("| %d | %s | %.1f | %.2f | %.2fx | %.2fx | %s | %.0f | %.2f |" % (
                n, label, wall, wall / n, wall / idem, wall / floor, trips, mem, cpu / n))
    print("\n" + "\n".join(table))
    if args.readme:
        write_readme(table, args, load_before, time.monotonic() - started)
    if not args.keep:
        subprocess.run(["podman", "rm", "-f", smtp] + hosts, env=env(), capture_output=True)


if __name__ == "__main__":
    main()
