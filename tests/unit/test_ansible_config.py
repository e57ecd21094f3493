"""./ansible.cfg is the production configuration: SSH host keys checked and
remembered, only the role on roles_path, and it is what scripts/env.sh
exports. The test settings live in tests/ansible.cfg, which only the tests,
the demo and the benchmark use."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dump(config, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1")
    if config:
        env["ANSIBLE_CONFIG"] = str(ROOT / config)
    proc = subprocess.run(["ansible-config", "dump", "-t", "all", "--format", "display"], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)
    return proc.stdout


def setting(text, name):
    return re.search(r"^%s\(.*?\) = (.*)$" % re.escape(name), text, re.M | re.I).group(1)


def check_production(text):
    assert setting(text, "HOST_KEY_CHECKING") == "True"
    assert "fixtures" not in setting(text, "DEFAULT_ROLES_PATH")
    assert setting(text, "DEFAULT_ROLES_PATH") == str([str(ROOT / "roles")])
    assert "UserKnownHostsFile" not in text and "StrictHostKeyChecking" not in text
    assert "inventories/demo" not in text


def test_repository_root_reads_the_production_config():
    # No ANSIBLE_CONFIG: ansible-playbook run from the root reads ./ansible.cfg.
    check_production(dump(None))


def test_env_sh_exports_the_production_config():
    out = subprocess.run(["bash", "-c", 'source scripts/env.sh && echo "$ANSIBLE_CONFIG"'], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(ROOT / "ansible.cfg")
    check_production(dump(out))


def test_the_tests_have_their_own_config():
    text = dump("tests/ansible.cfg", cwd="/")
    assert setting(text, "HOST_KEY_CHECKING") == "False"
    assert setting(text, "DEFAULT_ROLES_PATH") == str([str(ROOT / "roles"), str(ROOT / "tests/fixtures/roles")])
    assert setting(text, "DEFAULT_HOST_LIST") == str([str(ROOT / "inventories/demo/hosts.yml")])


def test_readme_real_hosts_commands_use_no_test_config():
    for doc in ("README.md", "inventories/example/README.md", "inventories/skeleton/README.md"):
        text = (ROOT / doc).read_text()
        assert "tests/ansible.cfg" not in text.replace("`tests/ansible.cfg`", ""), doc
        assert "ANSIBLE_HOST_KEY_CHECKING" not in text, doc
