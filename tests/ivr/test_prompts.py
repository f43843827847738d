"""Prompt building with the real espeak-ng and sox, and how prompts become file names."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from callcenter.cli import main
from ivr.flow import PromptSource
from ivr.prompts import SoundLibrary, stream_name

needs_tools = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng or sox is not installed"
)


@needs_tools
def test_prompts_build_synthesizes_8khz_files_once(repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prompts"
    assert main(["prompts", "build", str(repo_dir / "flows"), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"45 built, 0 unchanged, in {out}\n"
    for lang in ("zh", "en"):
        with wave.open(str(out / "hotline" / lang / "main_menu.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000  # seconds of speech, not an empty file
    # English "goodbye" is the Asterisk sound vm-goodbye: nothing to build for it.
    assert not (out / "hotline" / "en" / "goodbye.wav").exists()
    assert (out / "hotline" / "zh" / "goodbye.wav").is_file()
    assert main(["prompts", "build", str(repo_dir / "flows"), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"0 built, 45 unchanged, in {out}\n"


def test_stream_names(tmp_path: Path) -> None:
    assert stream_name(tmp_path, "hotline", "account_number/ask_pin", "zh", PromptSource("text", "请输入")) == str(
        tmp_path / "hotline" / "zh" / "account_number__ask_pin"
    )
    assert stream_name(tmp_path, "hotline", "bye", "en", PromptSource("sound", "vm-goodbye")) == "vm-goodbye"
    assert stream_name(tmp_path, "hotline", "bye", "zh", PromptSource("sound", "vm-goodbye")) == "zh/vm-goodbye"


def test_sound_library_finds_standard_sounds(tmp_path: Path) -> None:
    (tmp_path / "en" / "digits").mkdir(parents=True)
    (tmp_path / "en" / "digits" / "7.gsm").write_bytes(b"")
    library = SoundLibrary((tmp_path,))
    assert library.find("digits/7", "en") == tmp_path / "en" / "digits" / "7.gsm"
    assert library.find("digits/7", "zh") is None
    assert library.describe("zh") == str(tmp_path / "zh")
