#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite one section of Aloha's /etc/aloha/settings.py, nothing else."""

from __future__ import annotations

DOCUMENTATION = r"""
module: aloha_settings_section
short_description: Replace one titled section of Aloha's settings.py
description:
  - Aloha's C(/etc/aloha/settings.py) is a series of sections, each opened by
    a line of sixteen C(#) and a C(## Title.) line. This module replaces the
    body of one section with I(content) and keeps every other line byte for
    byte.
  - Active assignments of I(managed_names) outside the section, which would
    silently override the section (in Python the last assignment wins), are
    commented out with a note that says why.
  - Statements inside the old section that assign names not in
    I(managed_names) are kept, so nothing the operator wrote there is lost.
  - A missing section is inserted after the section titled I(insert_after),
    or at the end of the file.
  - The file is refused when it does not compile or assigns one of
    I(forbidden_names); the candidate file is compiled before it replaces
    the old one, atomically.
options:
  path:
    description: Path of settings.py.
    type: path
    required: true
  title:
    description: Title of the section, as on its C(## ) line.
    type: str
    default: Outgoing email (SMTP) settings.
  content:
    description:
      - The whole new section, starting with its sixteen-C(#) line and title.
    type: str
    required: true
  managed_names:
    description: Setting names the section owns.
    type: list
    elements: str
    required: true
  forbidden_names:
    description: Names settings.py must never assign (secrets).
    type: list
    elements: str
    default: [EMAIL_HOST_PASSWORD]
  insert_after:
    description: Title of the section after which a missing section goes.
    type: str
    default: Mandatory settings.
extends_documentation_fragment: [files]
author: aloha_email developers
"""

EXAMPLES = r"""
- name: Write the outgoing email section of settings.py.
  aloha_settings_section:
    path: /etc/aloha/settings.py
    content: "{{ lookup('ansible.builtin.template', 'etc/aloha/settings.py.email-section.j2') }}"
    managed_names: [EMAIL_HOST, EMAIL_PORT]
"""

RETURN = r"""
needs_change:
  description: Whether the file differs from what the module writes (content, owner, group or mode).
    The same as C(changed), but kept when a task overrides C(changed), as the role's dry run does.
  type: bool
  returned: always
settings:
  description: Literal values of aloha_ADMINISTRATOR and EXTERNAL_HOST in the new file.
  type: dict
  returned: always
disabled:
  description: Line numbers (1-based, in the old file) of assignments that were commented out.
  type: list
  returned: always
msg:
  description: What was done.
  type: str
  returned: always
"""

import ast
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

SECTION_RULE = "#" * 16
DISABLED_NOTE = (
    "# Disabled by Ansible (role aloha_email): {name} is set in the "
    '"{title}" section; this assignment would override it.'
)


class SettingsError(Exception):
    """A settings.py the role must not touch; the message says the fix."""


def _section_starts(lines):
    """Map each section title to the index of its sixteen-# line."""
    starts = {}
    for i, line in enumerate(lines[:-1]):
        if line.rstrip("\r\n") == SECTION_RULE and lines[i + 1].startswith("## "):
            starts.setdefault(lines[i + 1][3:].strip(), i)
    return starts


def _section_span(lines, title):
    """(start, end) line indexes of the section titled TITLE, or None."""
    starts = _section_starts(lines)
    if title not in starts:
        return None
    start = starts[title]
    later = [s for s in starts.values() if s > start]
    return start, min(later) if later else len(lines)


def _parse(text, path):
    try:
        return ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise SettingsError(
            "%s has a Python syntax error at line %s: %s. Aloha cannot load it "
            "either; fix that line by hand, then run the role again."
            % (path, exc.lineno, exc.msg)
        )


def _assigned_names(node):
    """Names a statement assigns at module level (Assign, AugAssign, AnnAssign)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return set()
    names = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


def _statements(tree):
    """Assignment statements anywhere outside function and class bodies."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if _assigned_names(node):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, []) or [])


def literal_settings(tree, names):
    """Values of plain `NAME = "literal"` assignments (last one wins)."""
    found = {}
    for node in _statements(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for name in _assigned_names(node) & set(names):
                found[name] = node.value.value
    return found


def rewrite(text, path, title, content, managed, forbidden, insert_after):
    """Return (new_text, disabled_line_numbers). Raises SettingsError."""
    tree = _parse(text, path)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    managed = set(managed)

    for node in _statements(tree):
        bad = _assigned_names(node) & set(forbidden)
        if bad:
            raise SettingsError(
                "%s sets %s on line %d. Aloha never reads it, and by policy "
                "settings.py holds no secret: delete that line and give the "
                "password as the vault variable aloha_email_password, which the "
                "role writes to aloha-secrets.conf as email_password."
                % (path, sorted(bad)[0], node.lineno)
            )

    span = _section_span(lines, title)
    kept, disabled, drop = [], [], set()
    for node in _statements(tree):
        first, last = node.lineno - 1, node.end_lineno - 1
        inside = span is not None and span[0] <= first < span[1]
        names = _assigned_names(node) & managed
        if inside:
            if not names and node.col_offset == 0:
                # An operator's own statement in our section: keep it.
                kept.append("".join(lines[first:last + 1]))
        elif names and node.col_offset == 0:
            disabled.append(node.lineno)
            note = DISABLED_NOTE.format(name=sorted(names)[0], title=title.rstrip("."))
            block = [note + "\n"] + ["# " + ln if ln.strip() else ln for ln in lines[first:last + 1]]
            lines[first] = "".join(block)
            drop.update(range(first + 1, last + 1))

    section = content if content.endswith("\n") else content + "\n"
    if kept:
        section += (
            "\n# Kept from the previous version of this section (not managed "
            "by aloha_email):\n" + "".join(kept)
        )
    if span is not None and span[1] < len(lines):
        section += "\n"

    out = []
    if span is None:
        after = _section_span(lines, insert_after)
        at = after[1] if after else len(lines)
        for i, line in enumerate(lines):
            if i == at:
                out.append(section + ("\n" if at < len(lines) else ""))
            if i not in drop:
                out.append(line)
        if at >= len(lines):
            if out and out[-1].strip():
                out.append("\n")
            out.append(section)
    else:
        for i, line in enumerate(lines):
            if i == span[0]:
                out.append(section)
            if span[0] <= i < span[1] or i in drop:
                continue
            out.append(line)
    new_text = "".join(out)
    # The candidate must load in Python before it replaces the old file.
    try:
        compile(new_text, path, "exec")
    except SyntaxError as exc:
        raise SettingsError(
            "the rewritten %s would not compile (line %s: %s); nothing was "
            "changed. Check aloha_email_* values for stray quotes."
            % (path, exc.lineno, exc.msg)
        )
    return new_text, disabled


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            title=dict(type="str", default="Outgoing email (SMTP) settings."),
            content=dict(type="str", required=True),
            managed_names=dict(type="list", elements="str", required=True),
            forbidden_names=dict(type="list", elements="str", default=["EMAIL_HOST_PASSWORD"]),
            insert_after=dict(type="str", default="Mandatory settings."),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    if not os.path.isfile(path):
        module.fail_json(
            msg="%s does not exist. Is Aloha installed on this host? Set "
            "aloha_email_config_dir if its configuration lives elsewhere." % path
        )
    with open(path, encoding="utf-8") as f:
        old = f.read()
    try:
        new, disabled = rewrite(
            old, path, p["title"], p["content"], p["managed_names"],
            p["forbidden_names"], p["insert_after"],
        )
    except SettingsError as exc:
        module.fail_json(msg=str(exc))

    changed = new != old
    result = dict(
        changed=changed, disabled=disabled, msg="section up to date",
        settings=literal_settings(_parse(new, path), ["aloha_ADMINISTRATOR", "EXTERNAL_HOST"]),
    )
    if changed:
        result["msg"] = "section rewritten" + (
            "; disabled overriding assignments on lines %s" % disabled if disabled else ""
        )
        if module._diff:
            result["diff"] = dict(before=old, after=new, before_header=path, after_header=path)
        if not module.check_mode:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".settings.py.")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(new)
            module.atomic_move(tmp, path)
    file_args = module.load_file_common_arguments(p)
    result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    result["needs_change"] = result["changed"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
