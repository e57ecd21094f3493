#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_restart
short_description: Restart the Aloha server with its own restart-server script
description:
  - Runs C(<deploy_path>/scripts/restart-server) as the Aloha user, as the
    how-to does after a configuration change.
  - Aloha's output on a failed restart may quote C(aloha-secrets.conf) (a
    traceback of a file that does not parse); the output is scrubbed of the
    given secrets (plain, as Python reprs them, and base64) before it is
    returned.
  - A failed restart fails the module with cause C(restart_failed) and the
    tail of Aloha's error output in the message.
version_added: "1.0.0"
options:
  deploy_path:
    description: Aloha deployment directory holding C(scripts/restart-server).
    type: path
    default: /home/aloha/deployments/current
  user:
    description:
      - User to run the script as. When the module runs as root it uses
        C(runuser -u USER); when it already runs as USER, it runs directly.
    type: str
    default: aloha
  secrets:
    description: Values to scrub from the output, typically the SMTP password and the SMTP user.
    type: list
    elements: str
    default: []
  login_user:
    description:
      - The SMTP login user (EMAIL_HOST_USER). Its base64 form (AUTH LOGIN,
        AUTH PLAIN with each of I(secrets)) is scrubbed from the output; the
        plain name stays readable.
      - Give the user here, not in I(secrets) as well; Ansible itself masks
        every value of the no_log option I(secrets) in the result.
    type: str
    default: ""
  tail_lines:
    description: How many of the last output lines a failure message quotes.
    type: int
    default: 8
notes:
  - In check mode nothing is run; the module reports the change it would make.
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Restart the Aloha server
  aloha_restart:
    secrets:
      - "{{ aloha_email_password }}"
  register: restart
"""

RETURN = r"""
restarted:
  description: Whether the script ran and exited 0.
  returned: always
  type: bool
msg:
  description: What happened; on failure the cause, the command, its rc, the scrubbed tail of its output and the fix.
  returned: always
  type: str
error:
  description: On failure, the message without the cause and the fix (the command, its rc and its output's tail).
  returned: failure
  type: str
cause:
  description: C(restart_failed) when Aloha did not restart.
  returned: failure
  type: str
fix:
  description: What to do about it.
  returned: failure
  type: str
rc:
  description: Exit code of restart-server.
  returned: when run
  type: int
stdout_lines:
  description: Scrubbed standard output of restart-server.
  returned: when run
  type: list
  elements: str
stderr_lines:
  description: Scrubbed standard error of restart-server.
  returned: when run
  type: list
  elements: str
cmd:
  description: The command that was (or would be) run.
  returned: always
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_scrub import scrub
    from ansible.module_utils.aloha_email_smtp import as_user
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_scrub import scrub
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_smtp import as_user

FIX = "Fix what Aloha refused (the error above), then run the role again."
# Python's ~~~^^^ marker lines say nothing without the line above them.
_MARKER_RE = re.compile(r"^[ ^~]+$")


def output_tail(stdout_lines, stderr_lines, count):
    """The last COUNT meaningful lines of the error output (else of the
    standard output), joined for a one-line message."""
    lines = [ln for ln in (stderr_lines or stdout_lines) if ln.strip() and not _MARKER_RE.match(ln)]
    return " / ".join(lines[-count:]) if lines else "no output"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deploy_path=dict(type="path", default="/home/aloha/deployments/current"),
            user=dict(type="str", default="aloha"),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
            login_user=dict(type="str", default="", no_log=False),
            tail_lines=dict(type="int", default=8),
        ),
        supports_check_mode=True,
    )
    params = module.params
    script = os.path.join(params["deploy_path"], "scripts", "restart-server")
    command = as_user([script], params["user"])

    def failed(error, **result):
        module.fail_json(restarted=False, cause="restart_failed", error=error, fix=FIX,
                         msg="Aloha did not restart (restart_failed): %s %s" % (error, FIX), **result)

    if command is None:
        failed("must run as root (become: true) or as %s to run %s." % (params["user"], script), cmd=[script])
    if not (os.path.isfile(script) and os.access(script, os.X_OK)):
        failed("%s is missing or not executable: is Aloha deployed at aloha_email_deploy_path %s?"
               % (script, params["deploy_path"]), cmd=command)
    if module.check_mode:
        module.exit_json(changed=True, restarted=False, cmd=command, msg="would run %s" % " ".join(command))

    rc, stdout, stderr = module.run_command(command, cwd=params["deploy_path"])
    secrets = params["secrets"] or []
    result = dict(changed=True, rc=rc, cmd=command,
                  stdout_lines=scrub(stdout, secrets, params["login_user"]).splitlines(),
                  stderr_lines=scrub(stderr, secrets, params["login_user"]).splitlines())
    if rc != 0:
        tail = output_tail(result["stdout_lines"], result["stderr_lines"], params["tail_lines"])
        failed("%s exited with rc %d: %s" % (" ".join(command), rc, tail), **result)
    module.exit_json(restarted=True, msg="Aloha restarted", **result)


if __name__ == "__main__":
    main()
