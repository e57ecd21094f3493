# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aloha's aloha-secrets.conf as its RawConfigParser reads it: the line
editor behind aloha_secret, and plan(), the dry run that aloha_email_check
also uses. Stdlib only: runs on the target's python3."""

from __future__ import annotations

import configparser
import os
import re

MASK = "********"
SECTION = "secrets"

# The same patterns RawConfigParser uses (default delimiters, no inline
# comments, no valueless options): the edit must see the file as Aloha does.
SECTCRE = re.compile(r"\[(?P<header>.+)\]")
OPTCRE = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")
NONSPACECRE = re.compile(r"\S")


class SecretsFileError(Exception):
    pass


class Entry(object):
    """One option of the file: its line, its continuation lines, where its
    value starts on the option line and its parsed value."""

    def __init__(self, section, name, line_index, value_offset):
        self.section = section
        self.name = name
        self.line_index = line_index
        self.value_offset = value_offset
        self.continuations = []
        self.values = []

    @property
    def value(self):
        return "\n".join(self.values).rstrip()


def split_lines(text):
    """Lines with their endings; "".join(result) == text.

    Split on "\n" only: str.splitlines() would also split on form feeds
    and other characters that configparser keeps inside a line.
    """
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def strip_eol(line):
    return line.rstrip("\r\n")


def parse(lines):
    """Mirror RawConfigParser._read on our lines.

    Returns (headers, entries): headers as (line_index, section name),
    entries as Entry. Lines before any header are recorded in headers as
    missing (a None section) only through the absence of a header.
    """
    headers = []
    entries = []
    section = None
    current = None
    indent_level = 0
    for index, raw in enumerate(lines):
        line = strip_eol(raw)
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            # Blank and comment lines never end a multi-line value.
            if not stripped and current is not None:
                current.values.append("")
            continue
        first = NONSPACECRE.search(line)
        cur_indent = first.start() if first else 0
        if current is not None and section is not None and cur_indent > indent_level:
            current.continuations.append(index)
            current.values.append(stripped)
            continue
        indent_level = cur_indent
        header = SECTCRE.match(stripped)
        if header:
            section = header.group("header")
            headers.append((index, section))
            current = None
            continue
        if section is None:
            raise SecretsFileError("missing_header")
        option = OPTCRE.match(stripped)
        if not option or not option.group("option"):
            raise SecretsFileError("line %d is neither a comment, a section "
                                   "header nor a 'key = value' line" % (index + 1))
        # Offset of the value in the unstripped line, to keep the original
        # indentation, key spelling and delimiter when replacing it.
        value_offset = len(line) - len(line.lstrip()) + option.start("value")
        current = Entry(section, option.group("option").rstrip().lower(),
                        index, value_offset)
        current.values.append(option.group("value").strip())
        entries.append(current)
    return headers, entries


def read_config(path):
    parser = configparser.RawConfigParser()
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        parser.read_file(handle)
    return parser


def config_values(parser):
    return {(section, key): value
            for section in parser.sections()
            for key, value in parser.items(section, raw=True)}


def describe_parse_error(exc):
    # configparser messages quote whole lines, which may hold secrets.
    lineno = getattr(exc, "lineno", None)
    if lineno is None and getattr(exc, "errors", None):
        lineno = exc.errors[0][0]
    return "%s%s" % (type(exc).__name__, " at line %s" % lineno if lineno else "")


def value_problem(value, key):
    """Why Aloha could not use value, or None. Never quotes the value."""
    name = "aloha_email_password" if key == "email_password" else "the value for %r" % key
    if value is None or value == "":
        return "%s is empty; set it (in the vault) to the SMTP password." % name
    if value != value.strip():
        return ("%s begins or ends with whitespace, which Aloha's "
                "RawConfigParser strips; remove it (and from the password at "
                "the SMTP provider if it really has such a character)." % name)
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return ("%s contains a newline, carriage return or other control "
                "character, which cannot be stored on one line of the secrets "
                "file; set a password without control characters." % name)
    if any(ord(char) > 127 for char in value):
        return ("%s contains a non-ASCII character; Aloha's SMTP client sends "
                "the login as ASCII, so it could never authenticate. Choose an "
                "ASCII-only password at the SMTP provider and store that." % name)
    return None


def masked(lines, entries, changed_entry=None):
    """The file with every value masked, for the diff. Comment lines are
    masked too: they often hold an old secret ("# email_password = old")."""
    out = list(lines)
    for index, raw in enumerate(lines):
        line = strip_eol(raw)
        stripped = line.lstrip()
        if stripped.startswith(("#", ";")) and stripped[1:].strip():
            out[index] = line[:len(line) - len(stripped) + 1] + " " + MASK + raw[len(line):]
    for entry in entries:
        raw = lines[entry.line_index]
        line = strip_eol(raw)
        eol = raw[len(line):]
        shown = MASK if entry.value else ""
        if entry is changed_entry:
            shown = MASK + " (changed)"
        out[entry.line_index] = line[:entry.value_offset] + shown + eol
        for index in entry.continuations:
            cont = strip_eol(lines[index])
            out[index] = cont[:len(cont) - len(cont.lstrip())] + MASK + lines[index][len(cont):]
    return "".join(out)


def compute(text, key, value, state, path):
    """Return (new_text, action, masked_before, masked_after).

    new_text is None when nothing changes.
    """
    if text.startswith("\ufeff"):
        # Aloha's RawConfigParser (no utf-8-sig) reads the BOM as part of
        # the first line, so the file fails to load whatever follows.
        raise SecretsFileError(
            "%s starts with a UTF-8 byte order mark (BOM, bytes EF BB BF), "
            "which Aloha's RawConfigParser reads as part of the first line: "
            "Aloha cannot read this file. Remove the BOM (for example "
            "sed -i '1s/^\\xEF\\xBB\\xBF//' %s) and run the role again." % (path, path))
    lines = split_lines(text)
    try:
        headers, entries = parse(lines)
    except SecretsFileError as exc:
        if str(exc) == "missing_header":
            raise SecretsFileError(
                "%s has lines before any section header and no [secrets] "
                "header above them; Aloha cannot read it. Add a line "
                "'[secrets]' at the top of the file." % path)
        raise SecretsFileError("%s: %s" % (path, exc))
    secrets_headers = [index for index, name in headers if name == SECTION]
    if not secrets_headers:
        raise SecretsFileError(
            "%s has no [secrets] header; Aloha reads its secrets only from "
            "the [secrets] section. Add a line '[secrets]' above the "
            "secrets (at the top of the file)." % path)
    if len(secrets_headers) > 1:
        raise SecretsFileError(
            "%s has %d [secrets] headers; Aloha refuses to start with a "
            "duplicate section. Merge them by hand." % (path, len(secrets_headers)))
    matches = [entry for entry in entries
               if entry.section == SECTION and entry.name == key.lower()]
    if len(matches) > 1:
        raise SecretsFileError(
            "%s has %d %r entries in [secrets]; Aloha refuses to start with a "
            "duplicate key. Remove the extra line(s) by hand."
            % (path, len(matches), key))

    before = masked(lines, entries)
    new_lines = list(lines)
    if state == "absent":
        if not matches:
            return None, "absent", before, before
        entry = matches[0]
        drop = set([entry.line_index] + entry.continuations)
        new_lines = [line for index, line in enumerate(lines) if index not in drop]
        _, after_entries = parse(new_lines)
        return "".join(new_lines), "removed", before, masked(new_lines, after_entries)

    eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if matches:
        entry = matches[0]
        if entry.value == value and not entry.continuations:
            return None, "unchanged", before, before
        raw = lines[entry.line_index]
        line = strip_eol(raw)
        new_lines[entry.line_index] = line[:entry.value_offset] + value + (raw[len(line):] or eol)
        for index in reversed(entry.continuations):
            del new_lines[index]
        action = "updated"
    else:
        # After the last non-blank line of the section (the section runs to
        # the next header), so the key lands next to the other secrets.
        start = secrets_headers[0]
        following = [index for index, _ in headers if index > start]
        end = following[0] if following else len(lines)
        last = start
        for index in range(start, end):
            if strip_eol(lines[index]).strip():
                last = index
        if not new_lines[last].endswith("\n"):
            new_lines[last] += eol
        # No indentation: an indented line would continue the previous value.
        new_lines.insert(last + 1, "%s = %s%s" % (key, value, eol))
        action = "added"
    new_text = "".join(new_lines)
    _, after_entries = parse(split_lines(new_text))
    changed = [e for e in after_entries if e.section == SECTION and e.name == key.lower()]
    after = masked(split_lines(new_text), after_entries, changed_entry=changed[0])
    return new_text, action, before, after


def verify(tmp_path, original_values, key, value, state):
    """Re-read the written file as Aloha does; returns an error or None."""
    try:
        parser = read_config(tmp_path)
    except configparser.Error as exc:
        return "the new file would not parse (%s)" % describe_parse_error(exc)
    new_values = config_values(parser)
    option = key.lower()
    if state == "present":
        if new_values.get((SECTION, option)) != value:
            return "the value did not read back unchanged with RawConfigParser"
    elif parser.has_option(SECTION, option):
        return "%r still reads from [secrets] (is it set in [DEFAULT]?)" % key
    for item, old in original_values.items():
        if item != (SECTION, option) and new_values.get(item) != old:
            return "another value (%s in [%s]) would change" % (item[1], item[0])
    return None



def plan(path, key, value, state, create=True):
    """What setting KEY to VALUE (or removing it) in PATH would do, writing
    nothing: dict(path (a symlink's target), exists, new_text (None: no
    change), action, before, after (the masked diff), original_values).
    Raises SecretsFileError with the message for the operator."""
    if not key or key != key.strip() or any(c in key for c in "=:[]\r\n") \
            or key.strip().startswith(("#", ";")):
        raise SecretsFileError("key %r is not a valid RawConfigParser key" % key)
    if state == "present":
        problem = value_problem(value, key)
        if problem:
            raise SecretsFileError("Refusing to write %s to %s: %s" % (key, path, problem))

    # Edit the file a symlink points to rather than replacing the link.
    if os.path.islink(path):
        path = os.path.realpath(path)

    exists = os.path.exists(path)
    if exists and not os.path.isfile(path):
        raise SecretsFileError("%s exists and is not a regular file" % path)

    original_values = {}
    if exists:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="surrogateescape")
        new_text, action, before, after = compute(text, key, value, state, path)
        try:
            original_values = config_values(read_config(path))
        except configparser.Error as exc:
            raise SecretsFileError("%s does not parse as Aloha reads it (%s); fix "
                                   "it by hand first." % (path, describe_parse_error(exc)))
    elif state == "absent":
        new_text, action, before, after = None, "absent", "", ""
    elif not create:
        raise SecretsFileError("%s does not exist (create=false)" % path)
    else:
        if not os.path.isdir(os.path.dirname(path) or "."):
            raise SecretsFileError("directory %s does not exist; is Aloha installed?"
                                   % os.path.dirname(path))
        new_text = "[%s]\n%s = %s\n" % (SECTION, key, value)
        action = "created"
        before = ""
        after = "[%s]\n%s = %s (changed)\n" % (SECTION, key, MASK)
    return dict(path=path, exists=exists, new_text=new_text, action=action, before=before,
                after=after, original_values=original_values)
