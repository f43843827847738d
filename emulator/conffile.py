"""Asterisk's configuration file syntax (manager.conf, pjsip.conf) read into sections.

`[name]`, `[name](!)` (a template), `[name](tmpl1,tmpl2)` (inherits the templates' keys first),
`key = value` or `key => value`, `;` comments. A name may repeat (pjsip.conf gives one section
per object type under the same name), so sections are a list, not a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ConfError(Exception):
    """A configuration file the emulator cannot read; the message names file and line."""


@dataclass(slots=True)
class Section:
    name: str
    is_template: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        # The last assignment wins, as in Asterisk for single-valued options.
        value = default
        for k, v in self.items:
            if k == key:
                value = v
        return value


def parse_conf(text: str, file: str) -> list[Section]:
    sections: list[Section] = []
    templates: dict[str, Section] = {}
    current: Section | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            end = line.find("]")
            if end == -1:
                raise ConfError(f"{file}:{lineno}: section header without ']'")
            current = Section(line[1:end].strip())
            rest = line[end + 1 :].strip()
            if rest:
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise ConfError(f"{file}:{lineno}: expected (template options) after ]")
                for option in (o.strip() for o in rest[1:-1].split(",")):
                    if option == "!":
                        current.is_template = True
                    elif option == "+":
                        pass
                    elif option in templates:
                        current.items.extend(templates[option].items)
                    else:
                        raise ConfError(f"{file}:{lineno}: unknown template {option!r}")
            if current.is_template:
                templates[current.name] = current
            else:
                sections.append(current)
            continue
        if current is None:
            raise ConfError(f"{file}:{lineno}: line outside any [section]")
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"{file}:{lineno}: expected key = value")
        current.items.append((key.strip(), value.lstrip(">").strip()))
    return sections


def read_conf(path: Path) -> list[Section]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfError(f"cannot read {path}: {exc.strerror}") from None
    return parse_conf(text, path.name)


@dataclass(frozen=True, slots=True)
class AmiUser:
    username: str
    secret: str = field(repr=False)
    read: frozenset[str]
    write: frozenset[str]


def _classes(value: str) -> frozenset[str]:
    return frozenset(c.strip().lower() for c in value.split(",") if c.strip())


def ami_users(sections: list[Section]) -> dict[str, AmiUser]:
    """The users of manager.conf (every section but [general])."""
    users: dict[str, AmiUser] = {}
    for s in sections:
        if s.name == "general":
            continue
        users[s.name] = AmiUser(s.name, s.get("secret"), _classes(s.get("read")), _classes(s.get("write")))
    return users


def pjsip_endpoints(sections: list[Section]) -> dict[str, str]:
    """Endpoint name -> its dialplan context, for the `type = endpoint` sections of pjsip.conf."""
    return {s.name: s.get("context", "default") for s in sections if s.get("type") == "endpoint"}


@dataclass(frozen=True, slots=True)
class ManagerGeneral:
    """manager.conf [general] settings that change what events look like."""

    channelvars: tuple[str, ...] = ()
    timestampevents: bool = False


def manager_general(sections: list[Section]) -> ManagerGeneral:
    for s in sections:
        if s.name == "general":
            names = tuple(n.strip() for n in s.get("channelvars").split(",") if n.strip())
            return ManagerGeneral(names, s.get("timestampevents").lower() in ("yes", "true", "on", "1"))
    return ManagerGeneral()
