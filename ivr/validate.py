"""Checks on flow files, each error located at `FILE:LINE:COLUMN:`.

Order of checks: YAML syntax and duplicate keys (flow.read_document), then the JSON Schema
(`flow.schema.json`: shapes, field types, unknown fields, unknown node types), then the graph:
references to missing nodes, prompts and sub-flows, duplicate menu keys and phrases, invalid
patterns, nodes unreachable from `start`, loops with no exit, and sub-flows that call themselves.
Graph checks only run on a file whose schema check passed, so they can trust the shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from ivr.flow import (
    NODE_TYPES,
    TERMINAL_TYPES,
    Document,
    Flow,
    FlowError,
    Path_,
    build_flow,
    node_refs,
    prompt_names,
    read_file,
)
from ivr.prompts import SoundLibrary

SCHEMA_FILE = Path(__file__).with_name("flow.schema.json")


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _describe(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "flow"


def _leaf_errors(error: jsonschema.ValidationError) -> Iterable[jsonschema.ValidationError]:
    # `allOf` of `if/then` per node type wraps the real complaint; `anyOf`/`oneOf` are reported whole.
    if error.validator == "allOf" and error.context:
        for sub in error.context:
            yield from _leaf_errors(sub)
    else:
        yield error


def schema_errors(doc: Document) -> list[FlowError]:
    errors: list[FlowError] = []
    data = doc.data
    if not isinstance(data, dict):
        return [doc.error((), "expected a mapping with `flow` (or `subflow`), `start` and `nodes`")]
    seen: set[tuple[Path_, str]] = set()
    for error in _validator().iter_errors(data):
        for leaf in _leaf_errors(error):
            path = tuple(leaf.absolute_path)
            message = _message(path, leaf)
            if (path, message) in seen:
                continue
            seen.add((path, message))
            errors.append(doc.error(path, message))
    return sorted(errors)


def _message(path: Path_, error: jsonschema.ValidationError) -> str:
    where = _describe(path)
    if len(path) == 3 and path[0] == "nodes" and path[2] == "type" and error.validator == "enum":
        return f"node {path[1]!r} has unknown type {error.instance!r}; expected one of: {', '.join(NODE_TYPES)}"
    if path == () and error.validator == "oneOf":
        return "a flow file needs exactly one of `flow: NAME` or `subflow: NAME`"
    if error.validator == "oneOf" and path and path[-1] in ("prompt", "no_input", "no_match"):
        return f"{where}: expected a prompt name or a list of prompt names, got {error.instance!r}"
    if error.validator == "oneOf":
        return f"{where}: expected a text (string), {{text: ...}} or {{sound: ...}}, got {error.instance!r}"
    if error.validator == "anyOf" and path and path[0] == "nodes":
        return f"{where}: a play node needs `prompt` or `say`"
    return f"{where}: {error.message}"


@dataclass(frozen=True, slots=True)
class Checker:
    """Graph checks for one document, given the sub-flows that exist and where sounds live."""

    doc: Document
    subflows: Mapping[str, Document]
    sounds: SoundLibrary | None

    def run(self) -> list[FlowError]:
        data = self.doc.data
        nodes: Mapping[str, Any] = data["nodes"]
        is_subflow = "subflow" in data
        errors: list[FlowError] = []
        if data["start"] not in nodes:
            errors.append(self.doc.error(("start",), f"start node {data['start']!r} does not exist"))
        for node_id, node in nodes.items():
            base: Path_ = ("nodes", node_id)
            for rel, target in node_refs(node):
                if target not in nodes:
                    errors.append(self.doc.error((*base, *rel), f"node {node_id!r} refers to missing node {target!r}"))
            errors += self._prompts(node_id, node)
            errors += self._menu(node_id, node)
            if node["type"] == "collect":
                errors += self._collect(node_id, node)
            if node["type"] == "subflow" and node["flow"] not in self.subflows:
                errors.append(self.doc.error((*base, "flow"), f"node {node_id!r} calls unknown sub-flow {node['flow']!r}"))
            if node["type"] == "return" and not is_subflow:
                errors.append(self.doc.error((*base, "type"), f"node {node_id!r}: `return` is only allowed in a sub-flow"))
        if data["start"] in nodes:
            errors += self._reachability(nodes, data["start"])
        default = data.get("default_language")
        if default and default not in (data.get("languages") or ("en",)):
            errors.append(self.doc.error(("default_language",), f"default_language {default!r} is not in languages"))
        return errors

    def _languages(self) -> tuple[str, ...]:
        return tuple(self.doc.data.get("languages") or ("en",))

    def _prompts(self, node_id: str, node: Mapping[str, Any]) -> list[FlowError]:
        errors = []
        defined: Mapping[str, Any] = self.doc.data.get("prompts") or {}
        for f in ("prompt", "no_input", "no_match"):
            for i, name in enumerate(prompt_names(node.get(f))):
                path: Path_ = ("nodes", node_id, f) if isinstance(node[f], str) else ("nodes", node_id, f, i)
                if name not in defined:
                    errors.append(self.doc.error(path, f"node {node_id!r} uses undefined prompt {name!r}"))
        return errors

    def prompt_errors(self) -> list[FlowError]:
        """Every defined prompt has every language of the flow, and its sound files exist."""
        errors = []
        for name, langs in (self.doc.data.get("prompts") or {}).items():
            for lang in self._languages():
                if lang not in langs:
                    errors.append(self.doc.error(("prompts", name), f"prompt {name!r} has no {lang!r} version", key=True))
            for lang, src in langs.items():
                is_sound = isinstance(src, dict) and "sound" in src
                if is_sound and self.sounds is not None and self.sounds.find(src["sound"], lang) is None:
                    errors.append(
                        self.doc.error(
                            ("prompts", name, lang, "sound"),
                            f"prompt {name!r} ({lang}): sound file {src['sound']!r} not found in {self.sounds.describe(lang)}",
                        )
                    )
        return errors

    def _menu(self, node_id: str, node: Mapping[str, Any]) -> list[FlowError]:
        errors: list[FlowError] = []
        keys: dict[str, int] = {}
        phrases: dict[tuple[str, str], int] = {}
        for i, option in enumerate(node.get("options") or ()):
            key = str(option["key"])
            if key in keys:
                errors.append(
                    self.doc.error(
                        ("nodes", node_id, "options", i, "key"),
                        f"menu {node_id!r}: key {key!r} is used by options {keys[key]} and {i}",
                    )
                )
            keys.setdefault(key, i)
            for lang, words in (option.get("say") or {}).items():
                for j, phrase in enumerate(words):
                    norm = " ".join(phrase.lower().split())
                    if (lang, norm) in phrases and phrases[(lang, norm)] != i:
                        errors.append(
                            self.doc.error(
                                ("nodes", node_id, "options", i, "say", lang, j),
                                f"menu {node_id!r}: phrase {phrase!r} ({lang}) is used by options {phrases[(lang, norm)]} and {i}",
                            )
                        )
                    phrases.setdefault((lang, norm), i)
        return errors

    def _collect(self, node_id: str, node: Mapping[str, Any]) -> list[FlowError]:
        errors = []
        if node.get("min_digits", 1) > node["max_digits"]:
            errors.append(
                self.doc.error(
                    ("nodes", node_id, "min_digits"),
                    f"node {node_id!r}: min_digits {node['min_digits']} is more than max_digits {node['max_digits']}",
                )
            )
        if "pattern" in node:
            try:
                re.compile(node["pattern"])
            except re.error as exc:
                errors.append(self.doc.error(("nodes", node_id, "pattern"), f"node {node_id!r}: invalid pattern: {exc}"))
        return errors

    def _reachability(self, nodes: Mapping[str, Any], start: str) -> list[FlowError]:
        # A reference to a missing node is reported on its own; here it is simply no edge, and the
        # node counts as having an exit so it is not reported twice.
        edges = {nid: [t for _, t in node_refs(n) if t in nodes] for nid, n in nodes.items()}
        broken = {nid for nid, n in nodes.items() if any(t not in nodes for _, t in node_refs(n))}
        reached = _closure([start], edges)
        errors = [
            self.doc.error(("nodes", nid), f"node {nid!r} is unreachable from start node {start!r}", key=True)
            for nid in nodes
            if nid not in reached
        ]
        # A node escapes when it is terminal, or when retries can run out (a menu, collect or confirm
        # with no on_failure ends the call), or when one of its successors escapes.
        exits = {
            nid
            for nid, n in nodes.items()
            if n["type"] in TERMINAL_TYPES or (n["type"] in ("menu", "collect", "confirm") and "on_failure" not in n)
        } | broken
        reverse: dict[str, list[str]] = {nid: [] for nid in nodes}
        for nid, targets in edges.items():
            for t in targets:
                reverse[t].append(nid)
        escapes = _closure(list(exits), reverse)
        for nid in nodes:
            if nid in reached and nid not in escapes:
                where = "is in" if nid in _closure(edges[nid], edges) else "leads only into"
                errors.append(self.doc.error(("nodes", nid), f"node {nid!r} {where} a loop with no exit", key=True))
        return errors


def _closure(seeds: list[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen = set(seeds)
    todo = list(seeds)
    while todo:
        for t in edges.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def _recursive_subflows(docs: Mapping[str, Document]) -> list[FlowError]:
    """A sub-flow that (indirectly) calls itself would inline forever."""
    calls = {
        name: [(nid, n["flow"]) for nid, n in d.data["nodes"].items() if n["type"] == "subflow"] for name, d in docs.items()
    }
    edges = {name: [callee for _, callee in c] for name, c in calls.items()}
    errors = []
    for name, doc in docs.items():
        for nid, callee in calls[name]:
            if name in _closure([callee], edges):
                errors.append(doc.error(("nodes", nid, "flow"), f"sub-flow {name!r} calls itself through node {nid!r}"))
    return errors


@dataclass(slots=True)
class LoadResult:
    flows: dict[str, Flow]
    errors: list[FlowError]
    # Files that failed, so a registry can keep the last good flow for them.
    bad_files: set[str]


def flow_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml"))
        else:
            out.append(p)
    return out


def load_flows(paths: Iterable[Path], sounds: SoundLibrary | None = None) -> LoadResult:
    """Read, check and build every flow in `paths` (files or directories)."""
    errors: list[FlowError] = []
    bad: set[str] = set()
    flows_docs: list[Document] = []
    subflow_docs: dict[str, Document] = {}
    for path in flow_files(paths):
        doc, errs = read_file(path)
        if doc is not None and not errs:
            errs = schema_errors(doc)
        if errs or doc is None:
            errors += errs
            bad.add(str(path))
            continue
        if "subflow" in doc.data:
            if doc.data["subflow"] in subflow_docs:
                errors.append(doc.error(("subflow",), f"sub-flow {doc.data['subflow']!r} is also defined in {subflow_docs[doc.data['subflow']].file}"))
                bad.add(doc.file)
                continue
            subflow_docs[doc.data["subflow"]] = doc
        else:
            flows_docs.append(doc)
    good_subflows: dict[str, Document] = {}
    for name, doc in subflow_docs.items():
        checker = Checker(doc, subflow_docs, sounds)
        errs = checker.run() + checker.prompt_errors()
        errors += errs
        if errs:
            bad.add(doc.file)
        else:
            good_subflows[name] = doc
    rec = _recursive_subflows(good_subflows)
    errors += rec
    for e in rec:
        good_subflows = {n: d for n, d in good_subflows.items() if d.file != e.file}
        bad.add(e.file)
    flows: dict[str, Flow] = {}
    dnis_owner: dict[str, str] = {}
    for doc in flows_docs:
        checker = Checker(doc, good_subflows, sounds)
        errs = checker.run() + checker.prompt_errors()
        name = doc.data["flow"]
        if name in flows:
            errs.append(doc.error(("flow",), f"flow {name!r} is also defined in {flows[name].file}"))
        for i, d in enumerate(doc.data.get("dnis") or ()):
            if str(d) in dnis_owner and dnis_owner[str(d)] != name:
                errs.append(doc.error(("dnis", i), f"DNIS {str(d)!r} is already served by flow {dnis_owner[str(d)]!r}"))
        if errs:
            errors += errs
            bad.add(doc.file)
            continue
        for d in doc.data.get("dnis") or ():
            dnis_owner[str(d)] = name
        flows[name] = build_flow(doc, good_subflows)
    return LoadResult(flows, sorted(errors), bad)
