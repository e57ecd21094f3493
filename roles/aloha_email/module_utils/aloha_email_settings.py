# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of Aloha's settings.py, shared by aloha_settings_section
(which rewrites one section) and aloha_email_facts (the read-only audit).

It never executes the file: it parses it with ast and finds every statement
that binds a given name at module scope, at any depth and in any form. Line
numbers are Python's: lines end at \\r\\n, \\r or \\n only (a form feed or
U+2028 does not end a line for Python, unlike str.splitlines()).

Stdlib only: runs on the target (Python 3.11 and 3.13).
"""

from __future__ import annotations

import ast
import os
import io
import re
import tokenize

SECTION_RULE = "#" * 16
DISABLED_NOTE = (
    "# Disabled by Ansible (role aloha_email): {name} is set in the "
    '"{title}" section; this assignment would override it.'
)
KEPT_NOTE = ("# Kept from the previous version of this section (not managed "
             "by aloha_email):")

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# Names whose use lets code set any module global behind the parser's back.
_DYNAMIC_ANYWHERE = ("globals", "exec", "eval")
_DYNAMIC_AT_MODULE = ("vars", "locals")
_BLOCKS = {
    ast.If: "an `if` block", ast.For: "a `for` loop", ast.AsyncFor: "a `for` loop",
    ast.While: "a `while` loop", ast.With: "a `with` block", ast.AsyncWith: "a `with` block",
    ast.Try: "a `try` statement",
}
if hasattr(ast, "TryStar"):
    _BLOCKS[ast.TryStar] = "a `try` statement"
if hasattr(ast, "Match"):
    _BLOCKS[ast.Match] = "a `match` statement"
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


class SettingsError(Exception):
    """A settings.py the role must not touch; the message says the fix."""


# --- bytes and lines --------------------------------------------------------

def split_lines(text):
    """Lines with their endings, as Python's tokenizer splits them:
    "".join(split_lines(text)) == text."""
    return _LINE_RE.findall(text)


def line_ending(line):
    return line[len(line.rstrip("\r\n")):]


def dominant_newline(lines):
    counts = {}
    for line in lines:
        ending = line_ending(line)
        if ending:
            counts[ending] = counts.get(ending, 0) + 1
    if not counts:
        return "\n"
    return max(("\n", "\r\n", "\r"), key=lambda e: counts.get(e, 0))


def decode(data, path):
    """(text, encoding) of settings.py bytes, as Python reads the file:
    UTF-8, a UTF-8 BOM (encoding utf-8-sig) or a PEP 263 coding line."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SettingsError(
            "%s cannot be read as Python reads it: %s. Aloha cannot load it "
            "either; fix the coding declaration (or remove it and save the "
            "file as UTF-8), then run the role again." % (path, exc.msg if hasattr(exc, "msg") else exc))
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        raise SettingsError(
            "%s is not valid %s (%s at byte %s): Aloha cannot load it either. "
            "Save it in the encoding its coding declaration names (UTF-8 "
            "without one), then run the role again."
            % (path, encoding, type(exc).__name__, getattr(exc, "start", "?")))


def encode(text, encoding, path):
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise SettingsError(
            "the new section of %s holds %r, which the file's declared "
            "encoding %s cannot represent; nothing was changed. Use only "
            "characters of that encoding in the aloha_email_* values, or "
            "convert the file to UTF-8 (and drop its coding line)."
            % (path, exc.object[exc.start:exc.end], encoding))


def parse(text, path):
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise SettingsError(
            "%s has a Python syntax error at line %s: %s. Aloha cannot load it "
            "either; fix that line by hand, then run the role again."
            % (path, getattr(exc, "lineno", "?"), getattr(exc, "msg", exc)))


# --- bindings -----------------------------------------------------------------

class Binding(object):
    """One statement binding NAME at module scope.

    top: the module-level statement that holds it; plain: a top-level
    `NAME = value` (or annotated, augmented) alone on its lines, binding
    managed names only, which can be disabled by commenting it out; form:
    why it is not plain, for the message."""

    def __init__(self, name, node, top, form, block=None, others=()):
        self.name = name
        self.node = node
        self.top = top
        self.form = form
        self.block = block
        self.others = sorted(others)
        self.lineno = getattr(node, "lineno", top.lineno)
        self.plain = False


class Dynamic(object):
    """A construct that may bind any name (star import, exec, globals(),
    `global NAME` in a function): not statically decidable."""

    def __init__(self, node, top, what, names=None, deferred=False):
        self.node = node
        self.top = top
        self.what = what
        self.names = names  # None: any name
        self.lineno = node.lineno
        # In a function or class: it may run after any later statement.
        self.deferred = deferred


def _target_names(target):
    """(names, unpacked) a for/assign target binds."""
    if isinstance(target, ast.Name):
        return [target.id], False
    if isinstance(target, ast.Starred):
        return _target_names(target.value)[0], True
    if isinstance(target, (ast.Tuple, ast.List)):
        names = []
        for elt in target.elts:
            names.extend(_target_names(elt)[0])
        return names, True
    return [], False


def _pattern_names(pattern):
    names = []
    for sub in ast.walk(pattern):
        for field in ("name", "rest"):
            value = getattr(sub, field, None)
            if isinstance(value, str) and not isinstance(sub, ast.MatchClass):
                names.append(value)
    return names


class _Finder(object):
    def __init__(self):
        self.bindings = []
        self.dynamic = []

    def bind(self, names, node, top, form, block):
        names = list(names)
        for name in names:
            self.bindings.append(Binding(name, node, top, form, block,
                                         set(names) - set([name])))

    def scan(self, tree):
        for top in tree.body:
            self.statement(top, top, None)
        return self

    def statement(self, node, top, block):
        # Expressions evaluated in module scope (walrus, dynamic calls).
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names, unpacked = _target_names(target)
                self.bind(names, node, top, "unpacked" if unpacked else "assigned", block)
                self.expressions(target, top, block, skip_names=True)
            all_names = [n for t in node.targets for n in _target_names(t)[0]]
            # A subscript or attribute target (`X[0] = EMAIL_HOST = 2`) binds no
            # name, but it is the operator's: commenting the line out would lose it.
            all_names += [ast.unparse(t) for t in node.targets if not _target_names(t)[0]]
            for binding in self.bindings:
                if binding.node is node:
                    binding.others = sorted(set(all_names) - set([binding.name]))
            self.expressions(node.value, top, block)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.bind(_target_names(node.target)[0], node, top, "assigned", block)
                self.expressions(node.value, top, block)
            self.expressions(node.annotation, top, block)
        elif isinstance(node, ast.AugAssign):
            self.bind(_target_names(node.target)[0], node, top, "augmented", block)
            self.expressions(node.value, top, block)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.bind(_target_names(target)[0], node, top, "deleted", block)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    self.dynamic.append(Dynamic(node, top, "`from %s import *`" % (node.module or ".")))
                else:
                    self.bind([alias.asname or alias.name.split(".")[0]], node, top, "imported", block)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bind([node.name], node, top,
                      "a class" if isinstance(node, ast.ClassDef) else "a function", block)
            for expr in node.decorator_list:
                self.expressions(expr, top, block)
            if isinstance(node, ast.ClassDef):
                for expr in node.bases + [k.value for k in node.keywords]:
                    self.expressions(expr, top, block)
            else:
                self.expressions(node.args, top, block)
                if node.returns is not None:
                    self.expressions(node.returns, top, block)
            self.inner_scope(node, top)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.bind(_target_names(node.target)[0], node, top, "loop", block)
            self.expressions(node.iter, top, block)
            self.body(node, top, block or _BLOCKS[type(node)])
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expressions(item.context_expr, top, block)
                if item.optional_vars is not None:
                    self.bind(_target_names(item.optional_vars)[0], node, top, "with", block)
            self.body(node, top, block or _BLOCKS[type(node)])
        elif type(node) in _BLOCKS:
            inner = block or _BLOCKS[type(node)]
            for field in ("test", "subject"):
                if getattr(node, field, None) is not None:
                    self.expressions(getattr(node, field), top, block)
            for handler in getattr(node, "handlers", []) or []:
                if handler.type is not None:
                    self.expressions(handler.type, top, inner)
                if handler.name:
                    self.bind([handler.name], handler, top, "except", inner)
                for stmt in handler.body:
                    self.statement(stmt, top, inner)
            for case in getattr(node, "cases", []) or []:
                self.bind(_pattern_names(case.pattern), case.pattern, top, "match", inner)
                if case.guard is not None:
                    self.expressions(case.guard, top, inner)
                for stmt in case.body:
                    self.statement(stmt, top, inner)
            self.body(node, top, inner)
        elif hasattr(ast, "TypeAlias") and isinstance(node, ast.TypeAlias):
            self.bind([node.name.id], node, top, "assigned", block)
        else:
            # Expr, Return-free simple statements, Assert, Raise, Global...
            for child in ast.iter_child_nodes(node):
                self.expressions(child, top, block)

    def body(self, node, top, block):
        for field in ("body", "orelse", "finalbody"):
            for stmt in getattr(node, field, []) or []:
                self.statement(stmt, top, block)

    def expressions(self, node, top, block, skip_names=False):
        """Walrus and dynamic calls in an expression evaluated in module
        scope; lambda bodies are another scope (comprehensions are not,
        for the walrus)."""
        todo = [node]
        while todo:
            sub = todo.pop()
            if isinstance(sub, ast.Lambda):
                todo.extend(sub.args.defaults + [d for d in sub.args.kw_defaults if d is not None])
                self.inner_scope(sub, top)
                continue
            if isinstance(sub, ast.NamedExpr):
                self.bind([sub.target.id], sub, top, "walrus", block)
            elif isinstance(sub, ast.Name) and sub.id in _DYNAMIC_ANYWHERE + _DYNAMIC_AT_MODULE:
                self.dynamic.append(Dynamic(sub, top, "`%s`" % sub.id))
            todo.extend(ast.iter_child_nodes(sub))

    def inner_scope(self, scope, top):
        """Inside a function or class only `global NAME` (and exec or
        globals()) reach module names."""
        body = scope.body if isinstance(scope.body, list) else [scope.body]
        for stmt in body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Global):
                    self.dynamic.append(Dynamic(sub, top, "`global %s`" % ", ".join(sub.names),
                                                names=list(sub.names), deferred=True))
                elif isinstance(sub, ast.Name) and sub.id in _DYNAMIC_ANYWHERE:
                    self.dynamic.append(Dynamic(sub, top, "`%s`" % sub.id, deferred=True))


def _first_line(node):
    """First line of a statement, decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _shares_lines(tree):
    """Indexes of top-level statements that share a line with another one."""
    shared = set()
    body = tree.body
    for index in range(1, len(body)):
        if _first_line(body[index]) <= body[index - 1].end_lineno:
            shared.update((index - 1, index))
    return shared


def find_bindings(tree, names):
    """(bindings, dynamic) for NAMES at module scope of TREE, in source
    order; each binding's .plain is set."""
    names = set(names)
    finder = _Finder().scan(tree)
    shared = _shares_lines(tree)
    position = dict((id(node), i) for i, node in enumerate(tree.body))
    bindings = [b for b in finder.bindings if b.name in names]
    for binding in bindings:
        node = binding.node
        binding.shared = position[id(binding.top)] in shared
        binding.plain = (
            node is binding.top and not binding.shared
            and binding.form in ("assigned", "augmented")
            and not (set(binding.others) - names)
            and not [b for b in finder.bindings
                     if b.top is node and b.node is not node and b.name not in names])
    dynamic = [d for d in finder.dynamic if d.names is None or set(d.names) & names]
    return bindings, dynamic


_FIXES = {
    "unpacked": "is assigned by unpacking; assign it on a line of its own or delete it",
    "assigned": "is assigned",
    "augmented": "is changed with an augmented assignment",
    "deleted": "is deleted (`del {name}`); delete that statement",
    "imported": "is imported under that name; import it under another name or delete the import",
    "a class": "is defined as a class; rename it",
    "a function": "is defined as a function; rename it",
    "loop": "is the target of a `for` loop; rename the loop variable",
    "with": "is bound by `with ... as {name}`; use another name",
    "except": "is bound by `except ... as {name}`; use another name",
    "match": "is bound by a `match` pattern; use another name",
    "walrus": "is assigned with `:=`; use another name",
}


def describe(binding):
    """Why BINDING cannot be disabled, and the fix."""
    name = binding.name
    if binding.others and binding.form in ("assigned", "unpacked"):
        text = ("{name} is assigned together with {others}; assign {others} on a line of its "
                "own and delete {name} from this statement")
    elif binding.block and binding.form in ("assigned", "augmented", "deleted"):
        text = "{name} is %s inside %s; move it out or delete it" % (
            "deleted" if binding.form == "deleted" else "assigned", binding.block)
    elif binding.form in ("assigned", "augmented") and binding.shared:
        text = ("{name} is assigned on a line shared with another statement (`;`); put it "
                "on a line of its own or delete it")
    else:
        text = "{name} " + _FIXES[binding.form]
        if binding.block:
            text += " (inside %s)" % binding.block
    text = text.format(name=name, others=", ".join(binding.others))
    return "line %d: %s, the role's section sets it" % (binding.lineno, text)


def describe_dynamic(item, names):
    if item.names:
        return ("line %d: %s in a function or class may set %s whenever that code runs; the "
                "role cannot tell the value: remove the global statement"
                % (item.lineno, item.what, ", ".join(sorted(set(item.names) & set(names)))))
    return ("line %d: %s may set any setting, including the role's; the role cannot tell "
            "which: move it above the section or remove it" % (item.lineno, item.what))


def string_lines(tree):
    """1-based line numbers that lie inside a multi-line string (their
    text is no comment, whatever it looks like)."""
    inside = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.JoinedStr) or (
                isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))):
            if node.end_lineno > node.lineno:
                inside.update(range(node.lineno + 1, node.end_lineno + 1))
            continue
        todo.extend(ast.iter_child_nodes(node))
    return inside


def section_starts(lines, tree):
    """Map each section title to the index of its sixteen-# line."""
    in_string = string_lines(tree)
    starts = {}
    for i, line in enumerate(lines[:-1]):
        if (line.rstrip("\r\n") == SECTION_RULE and lines[i + 1].startswith("## ")
                and (i + 1) not in in_string and (i + 2) not in in_string):
            starts.setdefault(lines[i + 1][3:].strip(), i)
    return starts


def section_span(lines, tree, title):
    """(start, end) line indexes of the section titled TITLE, or None."""
    starts = section_starts(lines, tree)
    if title not in starts:
        return None
    start = starts[title]
    later = [s for s in starts.values() if s > start]
    return start, min(later) if later else len(lines)


# --- the value Python uses (the audit) ----------------------------------------

def _literal(node):
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def final_values(tree, names):
    """(values, unknown): the value each of NAMES has after the module ran,
    for names that are set (last binding wins), and {name: why} for the
    names whose value cannot be decided statically (reported, never
    guessed)."""
    names = set(names)
    bindings, dynamic = find_bindings(tree, names)
    by_top = {}
    for binding in bindings:
        by_top.setdefault(id(binding.top), []).append(binding)
    dynamic_by_top = {}
    for item in dynamic:
        dynamic_by_top.setdefault(id(item.top), []).append(item)
    values, unknown = {}, {}

    def set_unknown(name, why):
        values.pop(name, None)
        unknown[name] = why


    def record(name, node, value_node):
        """NAME's value from VALUE_NODE where it is a literal, else unknown."""
        known, value = _literal(value_node)
        if known:
            values[name] = value
            unknown.pop(name, None)
        else:
            set_unknown(name, "%s on line %d is not a literal: value unknown" % (name, node.lineno))

    def may_set(item):
        for name in (item.names or names):
            if name in names:
                set_unknown(name, "%s on line %d may set %s: value unknown"
                            % (item.what, item.lineno, name))

    for top in tree.body:
        for item in dynamic_by_top.get(id(top), []):
            may_set(item)
        for binding in by_top.get(id(top), []):
            node, name = binding.node, binding.name
            if node is top and isinstance(node, ast.Delete):
                values.pop(name, None)
                unknown.pop(name, None)
            elif node is top and isinstance(node, (ast.Assign, ast.AnnAssign)) \
                    and node.value is not None and binding.form == "assigned":
                record(name, node, node.value)
            elif node is top and isinstance(node, ast.Assign) and binding.form == "unpacked" \
                    and len(node.targets) == 1 and isinstance(node.value, (ast.Tuple, ast.List)) \
                    and isinstance(node.targets[0], (ast.Tuple, ast.List)) \
                    and len(node.targets[0].elts) == len(node.value.elts) \
                    and all(isinstance(t, ast.Name) for t in node.targets[0].elts) \
                    and not any(isinstance(v, ast.Starred) for v in node.value.elts):
                index = [t.id for t in node.targets[0].elts]
                position = len(index) - 1 - index[::-1].index(name)
                record(name, node, node.value.elts[position])
            else:
                set_unknown(name, "%s: value unknown" % describe(binding).split(", the role")[0])
    # A function's `global NAME` (or exec) may run after the last assignment
    # (`def f(): global EMAIL_PORT` ... `EMAIL_PORT = 25`, then `f()`).
    for item in dynamic:
        if item.deferred:
            may_set(item)
    return values, unknown


# --- the section rewrite ----------------------------------------------------------

def _normalize(content, newline):
    lines = split_lines(content)
    if lines and not line_ending(lines[-1]):
        lines[-1] += "\n"
    return "".join(line.rstrip("\r\n") + newline for line in lines)


def rewrite(text, path, title, content, managed, forbidden, insert_after):
    """Return (new_text, disabled_line_numbers). Raises SettingsError
    before any change when the result could not be proven right."""
    tree = parse(text, path)
    lines = split_lines(text)
    managed = set(managed)

    forbidden_bindings, _ = find_bindings(tree, forbidden)
    if forbidden_bindings:
        bad = forbidden_bindings[0]
        raise SettingsError(
            "%s sets %s on line %d. Aloha never reads it, and by policy "
            "settings.py holds no secret: delete that line and give the "
            "password as the vault variable aloha_email_password, which the "
            "role writes to aloha-secrets.conf as email_password."
            % (path, bad.name, bad.lineno))

    span = section_span(lines, tree, title)
    if span is None:
        after = section_span(lines, tree, insert_after)
        at = after[1] if after else len(lines)
    # The file's own newline, from the lines the rewrite keeps (not the
    # notes it adds), so that a second run picks the same one.
    outside = [ln for i, ln in enumerate(lines)
               if (span is None or not span[0] <= i < span[1])
               and not ln.startswith(DISABLED_NOTE[:40])]
    newline = dominant_newline(outside if any(map(line_ending, outside)) else lines)
    bindings, dynamic = find_bindings(tree, managed)
    problems = [describe(b) for b in bindings if not b.plain]
    # exec(), globals(), a star import after the section may override it.
    boundary = span[0] + 1 if span is not None else at + 1
    problems += [describe_dynamic(d, managed) for d in dynamic
                 if d.names or d.lineno >= boundary]
    if span is not None:
        for node in tree.body:
            first, last = _first_line(node) - 1, node.end_lineno - 1
            for edge in span:
                if first < edge <= last:
                    problems.append(
                        "line %d: a statement runs across the boundary of the section "
                        "starting on line %d (or of the next one); end it before the "
                        "section's sixteen-# line" % (first + 1, span[0] + 1))
    if problems:
        raise SettingsError(
            "%s: refusing to edit it, nothing was changed: %s." % (path, "; ".join(sorted(
                set(problems), key=lambda p: int(p.split(":")[0].split()[1])))))

    plain = {}
    for binding in bindings:
        plain.setdefault(id(binding.top), []).append(binding.name)

    kept, disabled, edits = [], [], {}
    for node in tree.body:
        first, last = _first_line(node) - 1, node.end_lineno - 1
        inside = span is not None and span[0] <= first < span[1]
        if inside:
            if id(node) not in plain:
                # An operator's statement in our section: keep it as written.
                # Its last line ends with the file's newline: a lone "\r"
                # before the next "\n" would read as one CRLF.
                block = "".join(lines[first:last + 1])
                kept.append(block.rstrip("\r\n") + newline)
        elif id(node) in plain:
            disabled.append(first + 1)
            eol = line_ending(lines[first]) or newline
            note = DISABLED_NOTE.format(name=sorted(plain[id(node)])[0], title=title.rstrip("."))
            edits[first] = [note + eol] + ["# " + ln if ln.rstrip("\r\n") else ln
                                           for ln in lines[first:last + 1]]
            for index in range(first + 1, last + 1):
                edits[index] = []

    section = _normalize(content, newline)
    content_lines = len(split_lines(section))
    section_kept = ""
    if kept:
        content_kept = set(k.strip() for k in _statement_texts(section, path))
        kept = [k for k in kept if k.strip() not in content_kept]
    if kept:
        section_kept = newline + KEPT_NOTE + newline + "".join(kept)
    out = []

    def emit(index):
        out.extend(edits.get(index, [lines[index]]))

    if span is None:
        for i in range(len(lines)):
            if i == at:
                out.append(section + section_kept + newline)
                section_at = sum(len(split_lines(x)) for x in out[:-1])
            emit(i)
        if at >= len(lines):
            if out and not line_ending(out[-1]):
                out[-1] += newline
            if out and out[-1].strip():
                out.append(line_ending(out[-1]))
            section_at = sum(len(split_lines(x)) for x in out)
            out.append(section + section_kept)
    else:
        for i in range(len(lines)):
            if i == span[0]:
                section_at = sum(len(split_lines(x)) for x in out)
                out.append(section + section_kept + (newline if span[1] < len(lines) else ""))
            if span[0] <= i < span[1]:
                continue
            emit(i)
    new_text = "".join(out)
    verify(new_text, path, managed, section_at + 1, section_at + content_lines)
    return new_text, disabled


def _statement_texts(section, path):
    try:
        tree = ast.parse(section)
    except SyntaxError:
        return []
    lines = split_lines(section)
    return ["".join(lines[_first_line(n) - 1:n.end_lineno]) for n in tree.body]


def verify(new_text, path, managed, first, last):
    """Prove on the candidate, as Python will run it, that every managed
    name's final binding is the section's: every binding of a managed name
    is a plain top-level statement on lines FIRST..LAST (the new section),
    and nothing after the section can set a name behind the parser's back."""
    try:
        tree = ast.parse(new_text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise SettingsError(
            "the rewritten %s would not compile (line %s: %s); nothing was "
            "changed. Check aloha_email_* values for stray quotes."
            % (path, getattr(exc, "lineno", "?"), getattr(exc, "msg", exc)))
    bindings, dynamic = find_bindings(tree, managed)
    problems = []
    for binding in bindings:
        if not (binding.plain and first <= binding.lineno <= last):
            problems.append(describe(binding))
    for item in dynamic:
        if item.names or item.lineno >= first:
            problems.append(describe_dynamic(item, managed))
    if problems:
        raise SettingsError(
            "%s: the rewritten file would not give the section's values (%s); "
            "nothing was changed." % (path, "; ".join(problems)))


MISSING_MSG = ("%s does not exist. Is Aloha installed on this host? Set "
               "aloha_email_config_dir if its configuration lives elsewhere.")


def plan(path, title, content, managed_names, forbidden_names, insert_after):
    """What writing the section would do to PATH, writing nothing:
    dict(path (a symlink's target), old_bytes, new_bytes, old, new,
    disabled, settings (aloha_ADMINISTRATOR and EXTERNAL_HOST as Python
    ends up with them)). Bytes in, bytes out: the file's encoding (PEP 263
    line, BOM) and line endings are kept. Raises SettingsError."""
    # Write the file a symlink points to, so the link stays a link.
    path = os.path.realpath(path) if os.path.islink(path) else path
    if not os.path.isfile(path):
        raise SettingsError(MISSING_MSG % path)
    with open(path, "rb") as handle:
        old_bytes = handle.read()
    old, encoding = decode(old_bytes, path)
    new, disabled = rewrite(old, path, title, content, managed_names, forbidden_names, insert_after)
    new_bytes = encode(new, encoding, path)
    settings = final_values(parse(new, path), ["aloha_ADMINISTRATOR", "EXTERNAL_HOST"])[0]
    return dict(path=path, old_bytes=old_bytes, new_bytes=new_bytes, old=old, new=new,
                disabled=disabled, settings=settings)
