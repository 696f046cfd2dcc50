"""Read a policy file: YAML with line numbers, validation, problems as file:line."""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.policy.document import Policy
from bot.policy.values import Loc, PolicyError, Problem

# ---------------------------------------------------------------------------------------------------------------
# Reading YAML with line numbers


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """A SafeLoader without YAML 1.1 base-60 numbers, so an unquoted 10:30 stays the text '10:30'."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _key(loader: _Loader, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        value = loader.construct_object(node)
        return value if isinstance(value, typing.Hashable) else node.value
    return f"<{type(node).__name__} at line {node.start_mark.line + 1}>"


def _walk(
    loader: _Loader, node: Node, path: Loc, lines: dict[Loc, int], problems: list[tuple[int, str]], depth: int = 0
) -> None:
    if depth > 64:
        return
    if isinstance(node, MappingNode):
        explicit: dict[Any, int] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            key = _key(loader, key_node)
            line = key_node.start_mark.line + 1
            if key in explicit:
                problems.append(
                    (
                        line,
                        f"{_where((*path, key))}: duplicate key {key!r}; it is already set on line {explicit[key]} "
                        "and YAML would silently keep only the last one",
                    )
                )
                continue
            explicit[key] = line
            lines[(*path, key)] = line
            _walk(loader, value_node, (*path, key), lines, problems, depth + 1)
        for source in merged:
            if isinstance(source, MappingNode):
                for key_node, value_node in source.value:
                    key = _key(loader, key_node)
                    if key not in explicit:
                        explicit[key] = key_node.start_mark.line + 1
                        lines[(*path, key)] = explicit[key]
                        _walk(loader, value_node, (*path, key), lines, problems, depth + 1)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(loader, item, (*path, index), lines, problems, depth + 1)


def _where(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "policy"


def _line_of(loc: Sequence[Any], lines: Mapping[Loc, int]) -> int:
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return 1


def _annotation_at(root: Any, loc: Sequence[Any]) -> Any:
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (tuple, list, Sequence) and args:
            current = args[0]
        elif origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _message(error: Mapping[str, Any]) -> str:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        detail = error["ctx"]["error"] if kind == "value_error" else error["msg"]
        return f"{_where(loc)}: bad key {loc[-1]!r}: {detail}"
    where = _where(loc)
    if kind == "extra_forbidden":
        parent = _annotation_at(Policy, loc[:-1])
        allowed = sorted(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown key {loc[-1]!r}{hint}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{_where(loc[:-1])}: missing required key {loc[-1]!r}"
    if kind == "value_error":
        return f"{where}: {error['ctx']['error']}"
    if kind == "policy":
        return f"{where}: {error['msg']}"
    shown = repr(error["input"])
    return f"{where}: {error['msg']} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        begun, noticed = exc.context_mark, exc.problem_mark
        if begun is not None and noticed is not None and begun.line != noticed.line:
            what += f" (the construct began on line {begun.line + 1})"
        if exc.problem and "chomping or indentation" in exc.problem:
            what += "; a value starting with '>' must be quoted, e.g. '>=0.55'"
        return Problem(filename, line, f"YAML syntax error: {what}")
    return Problem(filename, 1, f"YAML syntax error: {exc}")


def _validate(text: str, *, filename: str) -> tuple[Policy | None, list[Problem]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(filename, 1, "the policy file is empty")]
        lines: dict[Loc, int] = {}
        found: list[tuple[int, str]] = []
        _walk(loader, node, (), lines, found)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(filename, exc)]
    finally:
        loader.dispose()
    problems = [Problem(filename, line, message) for line, message in found]
    if not isinstance(data, dict):
        return None, [*problems, Problem(filename, 1, "the policy must be a YAML mapping (version:, name:, ...)")]
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems += [Problem(filename, _line_of(e["loc"], lines), _message(e)) for e in exc.errors()]
        return None, sorted(problems, key=lambda p: (p.line, p.message))
    return (None if problems else policy), sorted(problems, key=lambda p: (p.line, p.message))


def parse_policy(text: str, *, filename: str = "<policy>", content_hash: str | None = None) -> Policy:
    """Validate policy YAML text; raises PolicyError listing every problem with its line.

    `content_hash`: the hash of the file this text was read from, when it was stored (a version read back from the
    database keeps the identity it was loaded with).
    """
    policy = _finish(text.encode("utf-8"), text, filename=filename)
    if content_hash is not None:
        policy._content_hash = content_hash
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises PolicyError listing every problem with its line."""
    raw = _read(path)
    return _finish(raw, _decode(raw, filename=str(path)), filename=str(path))


def validate_policy_file(path: str | Path) -> tuple[Policy | None, list[Problem]]:
    """The policy in a file and every problem found in it (the policy is None when there are problems)."""
    try:
        raw = _read(path)
        text = _decode(raw, filename=str(path))
    except PolicyError as exc:
        return None, list(exc.problems)
    policy, problems = _validate(text, filename=str(path))
    if policy is not None:
        policy._content_hash = hashlib.sha256(raw).hexdigest()
    return policy, problems


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError([Problem(str(path), 0, f"cannot read the policy file: {exc.strerror or exc}")]) from exc


def _decode(raw: bytes, *, filename: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError([Problem(filename, line, "the policy file is not valid UTF-8")]) from exc


def _finish(raw: bytes, text: str, *, filename: str) -> Policy:
    policy, problems = _validate(text, filename=filename)
    if policy is None or problems:
        raise PolicyError(problems)
    policy._content_hash = hashlib.sha256(raw).hexdigest()
    return policy
