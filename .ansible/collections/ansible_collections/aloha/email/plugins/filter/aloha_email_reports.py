# -*- coding: utf-8 -*-
# Copyright: aloha_email developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report text of the fleet playbooks (playbooks/rollout.yml, audit.yml):
the rows of every host of the run and the table, summary and Markdown made
from them. playbooks/filter_plugins/ links here, so the playbooks find the
filters by their short names both from the repository and from the
installed collection (aloha.email.aloha_email_rollout_lines, ...)."""

from __future__ import annotations

import json

from jinja2 import Environment
from jinja2.filters import do_truncate

ROLLOUT_FORMAT = "%-28s %-11s %-7s %-8s %-11s %s"
ROLLOUT_NOT_REACHED = {
    "status": "skipped", "changed": False, "verified": False, "rolled_back": False, "stage": None,
    "cause": "not reached: the rollout stopped before this host", "message": "", "batch": [],
}
AUDIT_FORMAT = "%-28s %-6s %-24s %-5s %-8s %-8s %-8s %s"
AUDIT_NOT_AUDITED = {"error": "not audited (--limit or earlier failure)"}
_TRUE = ("y", "yes", "on", "1", "true", "t")
_JINJA = Environment()


def _flag(value):
    """The playbooks' `| bool`: a boolean, or its usual spellings."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value == 1
    return str(value).strip().lower() in _TRUE


def _truncate(text, length):
    """Jinja's truncate (leeway 5, cut at a word, "..."), as the templates had it."""
    return do_truncate(_JINJA, text, length)


def _plain(value):
    """Plain dicts, lists and scalars (Ansible hands over lazy containers)."""
    if hasattr(value, "keys"):
        return {key: _plain(value[key]) for key in value.keys()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _host_fact(hostvars, name, fact, missing):
    """hostvars[name][fact] as a plain dict plus 'host', or MISSING when the
    host has no such fact (not reached, not audited)."""
    host = hostvars[name] if name in hostvars else {}
    value = host[fact] if fact in host else None
    if value is None or not hasattr(value, "keys"):
        value = missing
    row = _plain(value)
    row["host"] = name
    return row


def rollout_rows(targets, hostvars):
    """One row per host of the rollout (its aloha_email_rollout record), in
    order; a host the rollout never reached is 'skipped'."""
    return [_host_fact(hostvars, name, "aloha_email_rollout", ROLLOUT_NOT_REACHED) for name in targets]


def rollout_lines(rows):
    """The rollout summary as printed: a table, a count per status, then the
    message of each failed or unreachable host."""
    out = [ROLLOUT_FORMAT % ("HOST", "STATUS", "CHANGED", "VERIFIED", "ROLLED BACK", "CAUSE")]
    for r in rows:
        cause = r.get("cause")
        stage = r.get("stage")
        out.append(ROLLOUT_FORMAT % (
            r["host"], r["status"], str(_flag(r.get("changed"))).lower(), str(_flag(r.get("verified"))).lower(),
            str(_flag(r.get("rolled_back"))).lower(),
            "" if cause is None else ("%s: %s" % (stage, cause) if stage else cause)))
    stats = [r["status"] for r in rows]
    out.append("%d host(s): %d changed, %d unchanged, %d failed, %d unreachable, %d skipped (not reached)" % (
        len(stats), stats.count("changed"), stats.count("ok"), stats.count("failed"), stats.count("unreachable"),
        stats.count("skipped")))
    for r in rows:
        if r["status"] in ("failed", "unreachable"):
            out.append("%s: %s" % (r["host"], str(r.get("message", "")).replace("\n", " ")))
    return out


def audit_rows(targets, hostvars):
    """One row per audited host (its aloha_email_audit fact), in order; a
    host without one is an error row."""
    return [_host_fact(hostvars, name, "aloha_email_audit", AUDIT_NOT_AUDITED) for name in targets]


def _password(row, unknown):
    if row.get("password_set"):
        return "set"
    return "unset" if row.get("password_set") is False or unknown == "unset" else unknown


def _preflight(row, length=None):
    preflight = row.get("preflight")
    if preflight is None:
        return "-"
    if preflight.get("ok"):
        return "ok"
    msg = preflight.get("msg", "")
    return _truncate(msg, length) if length else msg


def audit_lines(rows):
    """The audit table as printed: one line per host, an error line for a
    host that could not be audited."""
    out = [AUDIT_FORMAT % ("HOST", "MODE", "SMTP HOST", "PORT", "TLS/SSL", "PASSWORD", "DRIFT", "PREFLIGHT")]
    for r in rows:
        if "error" in r:
            out.append("%-28s ERROR %s" % (r["host"], r["error"]))
            continue
        out.append(AUDIT_FORMAT % (
            r["host"], r.get("mode"), r.get("smtp_host") or "-", r.get("port"), r.get("security"),
            _password(r, "?"), "none" if r.get("in_sync") else ",".join(str(d["setting"]) for d in r.get("drift", [])),
            _preflight(r, 80)))
    out.extend(POSTFIX_FLAG_MISSING % name for name in _postfix_flag_missing(rows))
    return out


POSTFIX_FLAG_MISSING = ("%s: local mode, but aloha.conf lacks [postfix] uninstall = false: Aloha's next upgrade"
                        " uninstalls postfix and mail stops. Run the aloha_email role on it (local mode sets the flag).")


def _postfix_flag_missing(rows):
    """Hosts in local mode whose aloha.conf lets Aloha's upgrade uninstall postfix."""
    return [r["host"] for r in rows if "error" not in r and _flag(r.get("postfix_flag_missing"))]


def _cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def audit_markdown(rows):
    """audit.md: a heading and a Markdown table, one row per host."""
    out = [
        "# Outgoing email audit",
        "",
        "| host | mode | SMTP host | port | TLS/SSL | password | drift from inventory | preflight |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            out.append("| %s | error: %s | | | | | | |" % (r["host"], _cell(r["error"])))
            continue
        cells = [r["host"], r.get("mode"), r.get("smtp_host") or "-", r.get("port"), r.get("security"),
                 _password(r, "unset"),
                 "none" if r.get("in_sync") else "; ".join(json.dumps(d) for d in r.get("drift", [])),
                 _preflight(r)]
        out.append("| %s |" % " | ".join(_cell(c) for c in cells))
    missing = _postfix_flag_missing(rows)
    if missing:
        out += ["", "## Local mode without the upgrade flag", ""]
        out += ["- " + _cell(POSTFIX_FLAG_MISSING % name) for name in missing]
    return "\n".join(out) + "\n"


class FilterModule:
    """Report text of the fleet playbooks."""

    def filters(self):
        return {
            "aloha_email_rollout_rows": rollout_rows,
            "aloha_email_rollout_lines": rollout_lines,
            "aloha_email_audit_rows": audit_rows,
            "aloha_email_audit_lines": audit_lines,
            "aloha_email_audit_markdown": audit_markdown,
        }
