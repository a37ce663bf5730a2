"""Audio files and text to speech."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import Bars, TokenOpt, UrlOpt, call, client_for, fail

media_app = typer.Typer(help="Tệp âm thanh / media", no_args_is_help=True)

speech_app = typer.Typer(help="Đọc văn bản / text to speech", no_args_is_help=True)


@media_app.command("upload")
def media_upload(
    file: Path, title: str | None = None, url: str | None = UrlOpt, token: str | None = TokenOpt
) -> None:
    """Upload a bulletin (progress shown); prints its id (sha256), length and loudness."""
    if not file.is_file():
        fail(f"Không thấy tệp / no such file: {file}")
    bars = Bars(file.stat().st_size)
    m = call(client_for(url, token).upload, file, title, bars.sent, bars.progress)
    typer.echo(json.dumps(m, ensure_ascii=False, indent=1))


@speech_app.command("voices")
def speech_voices(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The voices the controller can read with (the station's default is marked)."""
    for v in call(client_for(url, token).get, "/api/speech/voices"):
        mark = "*" if v["default"] else " "
        typer.echo(f"{mark} {v['id']:<26} {v['language']:<4} {v['name_vi']} / {v['name_en']}")


voice_app = typer.Typer(
    help="Giọng đọc Piper của đài / the station's Piper voices", no_args_is_help=True
)
speech_app.add_typer(voice_app, name="voice")


def _installed_line(v: dict) -> str:
    return (
        f"{v['id']:<34} {v['language']:<4} {v['locale']:<6} {v['quality']:<7} "
        f"{v['sample_rate']} Hz  RTF {v['rtf']:.2f}  {v['size_bytes'] // 2**20} MB"
    )


@voice_app.command("add")
def voice_add(
    model: Path, config: Path, url: str | None = UrlOpt, token: str | None = TokenOpt
) -> None:
    """Install a Piper voice (FILE.onnx FILE.onnx.json): the controller checks the pair
    (config, language, a test sentence renders) and keeps it."""
    for f in (model, config):
        if not f.is_file():
            fail(f"Không thấy tệp / no such file: {f}")
    out = call(
        client_for(url, token).post_files,
        "/api/speech/voices",
        {"model": model, "config": config},
    )
    typer.echo(_installed_line(out))


@voice_app.command("list")
def voice_list(url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """The Piper voices installed: language, quality, and speed (RTF) on the controller."""
    for v in call(client_for(url, token).get, "/api/speech/voices/installed"):
        typer.echo(_installed_line(v))


@voice_app.command("remove")
def voice_remove(voice: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """Remove an installed Piper voice (piper:NAME)."""
    call(client_for(url, token).delete, f"/api/speech/voices/{voice}")
    typer.echo(f"{voice}: đã xoá / removed")


@speech_app.command("said")
def speech_said(text: str, url: str | None = UrlOpt, token: str | None = TokenOpt) -> None:
    """How a text will be read aloud: numbers, dates, units and abbreviations in words."""
    typer.echo(call(client_for(url, token).post, "/api/speech/said", {"text": text})["said"])


@speech_app.command("lexicon")
def speech_lexicon(
    add: list[str] = typer.Option([], "--add", help="ABBR=how it is read (repeatable)"),
    remove: list[str] = typer.Option([], "--remove", help="ABBR (repeatable)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """The station's abbreviations: list them, add or remove some."""
    client = client_for(url, token)
    entries = call(client.get, "/api/speech/lexicon")
    if add or remove:
        for item in add:
            word, sep, said = item.partition("=")
            if not sep:
                fail(f"--add ABBR=words, not {item!r}")
            entries[word.strip()] = said.strip()
        for word in remove:
            entries.pop(word, None)
        entries = call(client.put, "/api/speech/lexicon", {"entries": entries})
    for word, said in sorted(entries.items()):
        typer.echo(f"{word:<12} {said}")
