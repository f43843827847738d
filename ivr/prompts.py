"""Prompts: where Asterisk sounds are, what file a prompt plays, and synthesizing text prompts.

A flow prompt is, per language, either an Asterisk sound name (`sound: vm-goodbye`, looked up in
the standard sounds directory, `/usr/share/asterisk/sounds/<lang>/` on Debian) or a text that
`callcenter prompts build` synthesizes with espeak-ng into
`<prompts_dir>/<flow>/<lang>/<prompt>.wav` (8 kHz, mono, 16-bit: what Asterisk plays without
transcoding). The adapter streams the file by its path without the extension, as Asterisk wants.

NOTE(ivr): Asterisk and the control plane must see the same prompts directory (same host, or a
shared mount at the same path); see docs/ivr.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flow import Flow, PromptSource

logger = logging.getLogger(__name__)

DEFAULT_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
SOUND_EXTENSIONS = ("wav", "WAV", "gsm", "ulaw", "alaw", "sln", "g722", "wav16")
# espeak-ng voice per flow language.
VOICES = {"en": "en-us", "zh": "cmn"}
SAMPLE_RATE = 8000


@dataclass(frozen=True, slots=True)
class SoundLibrary:
    """The directories that hold Asterisk sound files, each with a per-language subdirectory."""

    roots: tuple[Path, ...] = (DEFAULT_SOUNDS_DIR,)

    def find(self, name: str, language: str) -> Path | None:
        for root in self.roots:
            for base in (root / language / name, root / name):
                for ext in SOUND_EXTENSIONS:
                    candidate = base.with_name(f"{base.name}.{ext}")
                    if candidate.is_file():
                        return candidate
        return None

    def describe(self, language: str) -> str:
        return ", ".join(str(root / language) for root in self.roots)


def text_prompt_path(prompts_dir: Path, flow: str, prompt: str, language: str) -> Path:
    """Where the synthesized file for a text prompt lives (without the `.wav` extension)."""
    return prompts_dir / flow / language / prompt.replace("/", "__")


def stream_name(prompts_dir: Path, flow: str, prompt: str, language: str, source: PromptSource) -> str:
    """The file name to give STREAM FILE / GET DATA for one prompt in one language."""
    if source.kind == "sound":
        # Asterisk looks in sounds/<channel language>/NAME then sounds/NAME, so a prompt for
        # another language names its directory.
        return source.value if language == "en" else f"{language}/{source.value}"
    return str(text_prompt_path(prompts_dir, flow, prompt, language))


@dataclass(slots=True)
class BuildReport:
    built: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _fingerprint(text: str, voice: str) -> str:
    return hashlib.sha256(f"{voice}\0{text}\0{SAMPLE_RATE}".encode()).hexdigest()[:16]


def synthesize(text: str, voice: str, out: Path) -> None:
    """espeak-ng to a temporary WAV, then sox to 8 kHz mono 16-bit signed PCM."""
    espeak = shutil.which("espeak-ng")
    sox = shutil.which("sox")
    if espeak is None or sox is None:
        raise FileNotFoundError("espeak-ng and sox are needed to build prompts (Debian: apt-get install espeak-ng sox)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        # The argv is a list (no shell); the text comes from a validated flow file.
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), text], check=True, capture_output=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [sox, str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(out)],
            check=True,
            capture_output=True,
        )


def build_prompts(flows: Iterable[Flow], prompts_dir: Path, *, force: bool = False) -> BuildReport:
    """Synthesize every text prompt of every flow; files whose text did not change are kept."""
    report = BuildReport()
    for flow in flows:
        manifest_path = prompts_dir / flow.name / "manifest.json"
        try:
            manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        for prompt, langs in flow.prompts.items():
            for lang, source in langs.items():
                if source.kind != "text":
                    continue
                voice = VOICES.get(lang, lang)
                out = text_prompt_path(prompts_dir, flow.name, prompt, lang).with_suffix(".wav")
                key = f"{lang}/{prompt}"
                fp = _fingerprint(source.value, voice)
                if not force and manifest.get(key) == fp and out.is_file():
                    report.unchanged.append(out)
                    continue
                try:
                    synthesize(source.value, voice, out)
                except (OSError, subprocess.CalledProcessError) as exc:
                    report.errors.append(f"{flow.name}: prompt {prompt!r} ({lang}): {exc}")
                    continue
                manifest[key] = fp
                report.built.append(out)
                logger.info("flow %s: built prompt %s (%s) -> %s", flow.name, prompt, lang, out)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return report
