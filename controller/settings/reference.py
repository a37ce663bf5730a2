"""docs/settings.md, written from the sections themselves."""

from __future__ import annotations

from pydantic import BaseModel

from . import PREFIX, SECTIONS


def reference() -> str:
    """docs/settings.md, from the sections themselves (a test keeps the file in step):
    ``python -m controller.settings > docs/settings.md``."""
    out = [
        "# Settings",
        "",
        "Every setting of the controller, by section, as `LOALANG_*` environment variables (or",
        "lines of a `.env` file in the folder it starts in). A variable no section knows stops",
        "the start with its name and the closest known one. Generated from",
        "`controller/settings/` (`python -m controller.settings > docs/settings.md`).",
    ]
    for section in SECTIONS:
        out += [
            "",
            f"## {section.__name__.removesuffix('Settings')}",
            "",
            (section.__doc__ or "").strip(),
            "",
            "| variable | default | what |",
            "|---|---|---|",
        ]
        for name, field in section.model_fields.items():
            default = (
                "" if field.is_required() else _shown(field.get_default(call_default_factory=True))
            )
            what = (field.description or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{PREFIX}{name.upper()}` | {default} | {what} |")
    return "\n".join(out) + "\n"


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, BaseModel):
        return "see below" if type(value).model_fields else ""
    if isinstance(value, (list, dict)) and not value:
        return ""
    if isinstance(value, (list, dict)):
        return f"{len(value)} entries"
    text = str(value).replace("|", "\\|")
    return f"`{text}`"
