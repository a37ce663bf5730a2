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
