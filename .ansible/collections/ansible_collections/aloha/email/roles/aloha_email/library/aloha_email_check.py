#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's check phase on the host in one call: the Aloha user and
deployment, and what writing settings.py and aloha-secrets.conf would
change. Writes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_email_check
short_description: Check an Aloha host and tell what the aloha_email role would change, writing nothing
description:
  - Checks that I(user) exists and that C(manage.py) and
    C(scripts/restart-server) under I(deploy_path) are executable.
  - Runs the same planning as M(aloha_settings_section) and M(aloha_secret)
    on I(settings) and I(secret), without writing, and reports for each
    whether the file (content, owner, group or mode) needs a change. A file
    either module would refuse fails this module with the same message.
  - One module call, so a run that changes nothing costs one round trip to
    find that out.
version_added: "1.2.0"
options:
  user:
    description: The user Aloha runs as.
    type: str
    required: true
  deploy_path:
    description: Aloha deployment directory (holds C(manage.py) and C(scripts/restart-server)).
    type: path
    required: true
  settings:
    description: What M(aloha_settings_section) would be given.
    type: dict
    required: true
    suboptions:
      path: {description: Path of settings.py., type: path, required: true}
      title: {description: Section title., type: str, default: Outgoing email (SMTP) settings.}
      content: {description: The whole new section., type: str, required: true}
      managed_names: {description: Names the section owns., type: list, elements: str, required: true}
      forbidden_names: {description: Names settings.py must never assign., type: list, elements: str,
                        default: [EMAIL_HOST_PASSWORD]}
      insert_after: {description: Section after which a missing one goes., type: str, default: Mandatory settings.}
      owner: {description: Owner the file gets., type: str, required: true}
      group: {description: Group the file gets., type: str, required: true}
      mode: {description: Mode the file gets (octal string)., type: str, required: true}
  secret:
    description: What M(aloha_secret) would be given.
    type: dict
    required: true
    suboptions:
      path: {description: Path of aloha-secrets.conf., type: path, required: true}
      key: {description: Key in the secrets section., type: str, default: email_password}
      state: {description: present or absent., type: str, choices: [present, absent], default: present}
      owner: {description: Owner the file gets., type: str, required: true}
      group: {description: Group the file gets., type: str, required: true}
      mode: {description: Mode the file gets (octal string)., type: str, required: true}
  secret_value:
    description:
      - The secret for I(secret) (a top-level option, not a suboption of I(secret) - Ansible logs a
        dict option's text on the host, where a no_log suboption holding a quote is escaped and no
        longer masked).
    type: str
    default: ""
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Find what would change.
  aloha_email_check:
    user: aloha
    deploy_path: /home/aloha/deployments/current
    settings: {path: /etc/aloha/settings.py, content: "...", managed_names: [EMAIL_HOST],
               owner: aloha, group: aloha, mode: "0644"}
    secret: {path: /etc/aloha/aloha-secrets.conf, owner: aloha, group: aloha, mode: "0640"}
    secret_value: "{{ password }}"
  register: check
"""

RETURN = r"""
settings:
  description: For settings.py, C(needs_change), C(disabled) (lines that would be commented out) and
    C(settings) (aloha_ADMINISTRATOR and EXTERNAL_HOST as Python ends up with them).
  type: dict
  returned: success
secret:
  description: For aloha-secrets.conf, C(needs_change) and C(action) (created, added, updated, removed, unchanged, absent).
  type: dict
  returned: success
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.aloha_email_secrets import SecretsFileError
    from ansible.module_utils.aloha_email_secrets import plan as plan_secret
    from ansible.module_utils.aloha_email_settings import SettingsError
    from ansible.module_utils.aloha_email_settings import plan as plan_settings
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_secrets import SecretsFileError
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_secrets import plan as plan_secret
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_settings import SettingsError
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_settings import plan as plan_settings


def host_problems(user, deploy_path):
    """The same messages the role gave when it checked with getent and stat."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return ("User %s does not exist on this host: is Aloha installed? Set "
                "aloha_email_user to the user Aloha runs as." % user)
    problems = []
    for name in ("manage.py", "scripts/restart-server"):
        path = os.path.join(deploy_path, name)
        if not os.path.exists(path):
            problems.append("%s does not exist." % path)
        elif not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append("%s is not executable." % path)
    if problems:
        return " ".join(problems) + (
            " Set aloha_email_deploy_path to the Aloha deployment (default "
            "/home/aloha/deployments/current) and make its scripts executable.")
    return None


def attributes_differ(path, owner, group, mode):
    """Whether PATH (existing) would get another owner, group or mode."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ValueError("user %s does not exist on this host (aloha_email_user)" % owner)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError("group %s does not exist on this host (aloha_email_group)" % group)
    st = os.stat(path)
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, gid, int(mode, 8))


def main():
    file_args = dict(owner=dict(type="str", required=True), group=dict(type="str", required=True),
                     mode=dict(type="str", required=True))
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", required=True),
            deploy_path=dict(type="path", required=True),
            settings=dict(type="dict", required=True, options=dict(
                path=dict(type="path", required=True),
                title=dict(type="str", default="Outgoing email (SMTP) settings."),
                content=dict(type="str", required=True),
                managed_names=dict(type="list", elements="str", required=True),
                forbidden_names=dict(type="list", elements="str", default=["EMAIL_HOST_PASSWORD"]),
                insert_after=dict(type="str", default="Mandatory settings."),
                **file_args)),
            secret=dict(type="dict", required=True, options=dict(
                path=dict(type="path", required=True),
                key=dict(type="str", default="email_password", no_log=False),
                state=dict(type="str", choices=["present", "absent"], default="present"),
                **file_args)),
            # Top level: Ansible logs a dict option as its repr on the host,
            # and a no_log suboption with a quote in it is escaped there,
            # so its masking misses it. A no_log option is not logged at all.
            secret_value=dict(type="str", default="", no_log=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = host_problems(p["user"], p["deploy_path"])
    if problem:
        module.fail_json(msg=problem)

    s = p["settings"]
    try:
        planned = plan_settings(s["path"], s["title"], s["content"], s["managed_names"],
                                s["forbidden_names"], s["insert_after"])
        settings_change = planned["new_bytes"] != planned["old_bytes"] or attributes_differ(
            planned["path"], s["owner"], s["group"], s["mode"])
    except (SettingsError, ValueError) as exc:
        module.fail_json(msg=str(exc))

    k = p["secret"]
    try:
        secret = plan_secret(k["path"], k["key"], p["secret_value"], k["state"])
        secret_change = secret["new_text"] is not None or (
            secret["exists"] and attributes_differ(secret["path"], k["owner"], k["group"], k["mode"]))
    except (SecretsFileError, ValueError) as exc:
        module.fail_json(msg=str(exc))

    module.exit_json(
        changed=False,
        settings=dict(needs_change=settings_change, disabled=planned["disabled"], settings=planned["settings"]),
        secret=dict(needs_change=secret_change, action=secret["action"]),
    )


if __name__ == "__main__":
    main()
