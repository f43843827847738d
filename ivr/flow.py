"""IVR flows as data: reading flow files with source positions, and the validated `Flow` value.

A flow file is YAML (see docs/flows.md and `flow.schema.json`). It is read twice over the same
text: PyYAML's composer gives the node tree with start marks, and the same tree is turned into plain
Python values. Every value and every mapping key gets its position recorded under its path
(`("nodes", "main_menu", "options", 0, "next")`), so each check can say `FILE:LINE:COLUMN:`.

A `Flow` is immutable once built. Sub-flows are inlined when a flow is built (node ids become
`caller/inner`), so a `Flow` is self-contained: a call that started on one version keeps running on
that object even after the registry has swapped in a newer one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

NODE_TYPES = (
    "play",
    "menu",
    "collect",
    "ask",
    "confirm",
    "lookup",
    "condition",
    "set",
    "callback",
    "voicemail",
    "route",
    "transfer",
    "hangup",
    "subflow",
    "return",
)
# Nodes that end the flow (or, for `return`, the sub-flow).
TERMINAL_TYPES = frozenset({"callback", "voicemail", "route", "transfer", "hangup", "return"})


@dataclass(frozen=True, slots=True, order=True)
class FlowError:
    """One problem in one file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(slots=True)
class Document:
    """A parsed flow file: its plain data and where every value and key came from."""

    file: str
    text: str
    data: Any
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The closest recorded position for `path` (walking up to the parent when needed)."""
        table = self.key_marks if key else self.marks
        p = path
        while p:
            if p in table:
                return table[p]
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def error(self, path: Path_, message: str, *, key: bool = False) -> FlowError:
        line, column = self.where(path, key=key)
        return FlowError(self.file, line, column, message)


class FlowLoader(yaml.SafeLoader):
    """YAML 1.2-style booleans: only true/false. In YAML 1.1 `yes`, `no`, `on` and `off` are
    booleans, which would silently break `yes:`/`no:` branches and spoken phrases like [yes, no]."""


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_document(file: str, text: str) -> tuple[Document | None, list[FlowError]]:
    """Parse YAML keeping positions. Syntax errors and duplicate keys come back as errors."""
    try:
        root = yaml.compose(text, Loader=FlowLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [FlowError(file, line, col, f"not valid YAML: {problem}")]
    doc = Document(file=file, text=text, data=None)
    errors: list[FlowError] = []
    if root is None:
        return None, [FlowError(file, 1, 1, "the file is empty; expected a flow mapping")]
    constructor = FlowLoader("")
    doc.data = _build(root, (), doc, errors, constructor)
    return doc, errors


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: Path_, doc: Document, errors: list[FlowError], ctor: FlowLoader) -> Any:
    doc.marks[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                line, col = _pos(key_node)
                errors.append(FlowError(doc.file, line, col, f"mapping key {key!r} must be a string"))
                continue
            if key in out:
                line, col = _pos(key_node)
                errors.append(FlowError(doc.file, line, col, f"duplicate key {key!r}"))
                continue
            doc.key_marks[(*path, key)] = _pos(key_node)
            out[key] = _build(value_node, (*path, key), doc, errors, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, errors, ctor) for i, item in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)


def read_file(path: Path) -> tuple[Document | None, list[FlowError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FlowError(str(path), 1, 1, f"cannot read the file: {exc}")]
    return read_document(str(path), text)


def prompt_names(value: Any) -> list[str]:
    """A node's `prompt`/`no_input`/`no_match` field as a list of prompt names."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True, slots=True)
class PromptSource:
    """What to play for one prompt in one language: an Asterisk sound name or a text to synthesize."""

    kind: str  # "sound" | "text"
    value: str


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated, self-contained flow (sub-flows inlined). Immutable; shared by every call using it."""

    name: str
    version: str
    file: str
    start: str
    dnis: tuple[str, ...]
    languages: tuple[str, ...]
    default_language: str
    timezone: str
    holidays: frozenset[str]
    variables: Mapping[str, str]
    prompts: Mapping[str, Mapping[str, PromptSource]]
    nodes: Mapping[str, Mapping[str, Any]]

    def node(self, node_id: str) -> Mapping[str, Any]:
        return self.nodes[node_id]


def prompt_source(raw: Any) -> PromptSource:
    if isinstance(raw, str):
        return PromptSource("text", raw)
    if "sound" in raw:
        return PromptSource("sound", str(raw["sound"]))
    return PromptSource("text", str(raw["text"]))


def content_version(*texts: str) -> str:
    """A short hash of the flow text (and its sub-flows): the version calls keep."""
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


# Fields whose value is a node id, per node type; list-valued containers are walked by `node_refs`.
REF_FIELDS = ("next", "on_failure", "not_found", "fallback", "yes", "no", "else")


def node_refs(node: Mapping[str, Any]) -> list[tuple[Path_, str]]:
    """Every (relative path, target id) a node may jump to."""
    refs: list[tuple[Path_, str]] = []
    for f in REF_FIELDS:
        if isinstance(node.get(f), str):
            refs.append(((f,), node[f]))
    for i, option in enumerate(node.get("options") or ()):
        if isinstance(option, Mapping) and isinstance(option.get("next"), str):
            refs.append((("options", i, "next"), option["next"]))
    for i, branch in enumerate(node.get("branches") or ()):
        if isinstance(branch, Mapping) and isinstance(branch.get("next"), str):
            refs.append((("branches", i, "next"), branch["next"]))
    for name, target in (node.get("outcomes") or {}).items():
        if isinstance(target, str):
            refs.append((("outcomes", name), target))
    return refs


def build_flow(doc: Document, subflows: Mapping[str, Document]) -> Flow:
    """Turn a validated flow document into a `Flow`, inlining sub-flows.

    Precondition: `doc` and every document in `subflows` passed validation (including the check
    that sub-flow calls do not recurse), so every reference resolves.
    """
    data = doc.data
    prompts: dict[str, dict[str, PromptSource]] = {
        name: {lang: prompt_source(src) for lang, src in langs.items()} for name, langs in (data.get("prompts") or {}).items()
    }
    nodes: dict[str, dict[str, Any]] = {}
    used: list[str] = []
    _inline(data["nodes"], "", None, nodes, prompts, subflows, used)
    texts = [doc.text] + [subflows[name].text for name in sorted(set(used))]
    languages = tuple(data.get("languages") or ("en",))
    return Flow(
        name=data["flow"],
        version=str(data["version"]) + "-" + content_version(*texts) if "version" in data else content_version(*texts),
        file=doc.file,
        start=data["start"],
        dnis=tuple(str(d) for d in data.get("dnis") or ()),
        languages=languages,
        default_language=data.get("default_language", languages[0]),
        timezone=data.get("timezone", "UTC"),
        holidays=frozenset(data.get("holidays") or ()),
        variables=MappingProxyType({k: str(v) for k, v in (data.get("variables") or {}).items()}),
        prompts=_freeze(prompts),
        nodes=_freeze(nodes),
    )


def _inline(
    src_nodes: Mapping[str, Any],
    prefix: str,
    returns: tuple[str, Mapping[str, str]] | None,
    out: dict[str, dict[str, Any]],
    prompts: dict[str, dict[str, PromptSource]],
    subflows: Mapping[str, Document],
    used: list[str],
    prompt_prefix: str = "",
) -> None:
    """Copy nodes into `out` under `prefix`; a `return` becomes a jump back to the caller."""

    def rid(node_id: str) -> str:
        return prefix + node_id

    def rprompt(value: Any) -> Any:
        if value is None or not prompt_prefix:
            return value
        return prompt_prefix + value if isinstance(value, str) else [prompt_prefix + v for v in value]

    for node_id, raw in src_nodes.items():
        node = dict(raw)
        for f in ("prompt", "no_input", "no_match"):
            if f in node:
                node[f] = rprompt(node[f])
        for f in REF_FIELDS:
            if isinstance(node.get(f), str):
                node[f] = rid(node[f])
        if "options" in node:
            node["options"] = [{**o, "key": str(o["key"]), "next": rid(o["next"])} for o in node["options"]]
        if "branches" in node:
            node["branches"] = [{**b, "next": rid(b["next"])} for b in node["branches"]]
        if "outcomes" in node:
            node["outcomes"] = {k: rid(v) for k, v in node["outcomes"].items()}
        if node["type"] == "return" and returns is not None:
            default, by_outcome = returns
            node["next"] = by_outcome.get(node.get("outcome", "ok"), default)
        if node["type"] == "subflow":
            sub = subflows[node["flow"]]
            used.append(node["flow"])
            inner_prefix = f"{rid(node_id)}/"
            sub_prompt_prefix = f"{node['flow']}/"
            for name, langs in (sub.data.get("prompts") or {}).items():
                prompts[sub_prompt_prefix + name] = {lang: prompt_source(s) for lang, s in langs.items()}
            node["next"] = f"{inner_prefix}{sub.data['start']}"
            _inline(
                sub.data["nodes"],
                inner_prefix,
                (rid(raw["next"]), {k: rid(v) for k, v in (raw.get("outcomes") or {}).items()}),
                out,
                prompts,
                subflows,
                used,
                sub_prompt_prefix,
            )
        out[rid(node_id)] = node
