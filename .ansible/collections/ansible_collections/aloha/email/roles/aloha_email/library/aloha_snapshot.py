#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record the files and services a run may change, and put them back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_snapshot
short_description: Record files and services before a change, and restore them exactly
description:
  - With I(state=read), records each path in I(paths) as it is now; whether
    it exists, whether it is a symlink (and where it points), and the
    content, owner, group and mode of the file it resolves to; and for each
    of I(services) whether it is active and enabled.
  - With I(state=restore), puts a recorded I(snapshot) back. Files are
    written to the symlink's target, atomically, with their old owner,
    group and mode; a link stays a link. Files that did not exist are
    removed. Services get their old enabled state; an active service that
    the run restarted (I(restarted)) or stopped is restarted on the
    restored files, and a service that was not running is stopped.
  - The snapshot holds secrets (aloha-secrets.conf, the SASL password
    file, DKIM keys). It lives in memory on the controller only; the task
    that registers it must use C(no_log).
version_added: "1.1.0"
options:
  paths:
    description: Files to record (state=read).
    type: list
    elements: path
    default: []
  services:
    description: systemd units whose active and enabled state to record (state=read).
    type: list
    elements: str
    default: []
  state:
    description: C(read) records, C(restore) puts a snapshot back.
    type: str
    choices: [read, restore]
    default: read
  snapshot:
    description: The C(snapshot) a C(state=read) run returned (state=restore).
    type: dict
  restarted:
    description: Services the run restarted; restored services in this list that were active are restarted.
    type: list
    elements: str
    default: []
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Record the files this run may write.
  aloha_snapshot:
    paths: [/etc/aloha/settings.py, /etc/aloha/aloha-secrets.conf]
  register: snapshot
  no_log: true

- name: Put them back.
  aloha_snapshot:
    state: restore
    snapshot: "{{ snapshot.snapshot }}"
  no_log: true
"""

RETURN = r"""
snapshot:
  description: What was recorded (state=read); holds file contents in base64.
  returned: state=read
  type: dict
restored:
  description: Paths and services that restore changed.
  returned: state=restore
  type: list
"""

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_files import read_state, restore_state
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_files import read_state, restore_state


def service_state(module, name):
    active = module.run_command(["systemctl", "is-active", "--quiet", name])[0] == 0
    enabled = module.run_command(["systemctl", "is-enabled", "--quiet", name])[0] == 0
    return dict(active=active, enabled=enabled)


def restore_service(module, name, was, restarted):
    now = service_state(module, name)
    actions = []
    if was["enabled"] != now["enabled"]:
        actions.append("enable" if was["enabled"] else "disable")
    if was["active"] and (name in restarted or not now["active"]):
        actions.append("restart")
    elif not was["active"] and now["active"]:
        actions.append("stop")
    for action in actions:
        rc, out, err = module.run_command(["systemctl", action, name])
        if rc != 0:
            module.fail_json(msg="systemctl %s %s failed during the rollback (rc %s): %s"
                             % (action, name, rc, (err or out).strip()),
                             cause="rollback_failed")
    return bool(actions)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            services=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["read", "restore"], default="read"),
            snapshot=dict(type="dict", no_log=True),
            restarted=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("state", "restore", ["snapshot"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "read":
        try:
            files = [read_state(path) for path in p["paths"]]
        except (OSError, ValueError) as exc:
            module.fail_json(msg="Cannot record the current configuration: %s" % exc,
                             cause="snapshot_failed")
        services = {name: service_state(module, name) for name in p["services"]}
        module.exit_json(changed=False, snapshot=dict(files=files, services=services))

    restored = []
    if not module.check_mode:
        for state in p["snapshot"].get("files", []):
            try:
                if restore_state(state):
                    restored.append(state["path"])
            except OSError as exc:
                module.fail_json(msg="Could not restore %s: %s" % (state["path"], exc),
                                 cause="rollback_failed", restored=restored)
        for name, was in p["snapshot"].get("services", {}).items():
            if restore_service(module, name, was, p["restarted"]):
                restored.append(name)
    module.exit_json(changed=bool(restored), restored=restored)


if __name__ == "__main__":
    main()
