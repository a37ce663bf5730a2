"""Schedules as code: YAML files under ``schedules/``, read into typed models; errors say
file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .checks import Problem
from .model import ScheduleSet


class ScheduleFileError(ValueError):
    """One or more files could not be read; ``messages`` are ``file:line: text`` lines."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class LoadedSchedules:
    schedules: ScheduleSet
    where: dict[str, str]  # schedule name -> "file:line"

    def locate(self, problem: Problem) -> str:
        return f"{self.where.get(problem.schedule, '?')}: [{problem.schedule}] {problem.message}"


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int:
    """1-based line of the YAML node at ``path`` (as deep as it exists)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
        else:
            found = None
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1
    return line


def load_file(path: Path) -> tuple[ScheduleSet, dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleFileError([f"{path}: cannot read: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ScheduleFileError(
            [f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScheduleFileError([f"{path}:1: expected a mapping with 'schedules'"])
    try:
        schedules = ScheduleSet.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
            where = ".".join(str(p) for p in loc)
            messages.append(f"{path}:{_line_of(node, loc)}: {where}: {err['msg']}")
        raise ScheduleFileError(messages) from None
    where = {
        s.name: f"{path}:{_line_of(node, ('schedules', i))}"
        for i, s in enumerate(schedules.schedules)
    }
    return schedules, where


def load(path: Path) -> LoadedSchedules:
    """One YAML file, or every ``*.yaml``/``*.yml`` in a folder merged into one set."""
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    if not files:
        raise ScheduleFileError([f"{path}: no schedule files (*.yaml)"])
    errors: list[str] = []
    merged: dict[str, Any] = {"timezone": None, "quiet_hours": [], "schedules": []}
    where: dict[str, str] = {}
    for file in files:
        try:
            part, part_where = load_file(file)
        except ScheduleFileError as exc:
            errors += exc.messages
            continue
        if "timezone" in part.model_fields_set:
            if merged["timezone"] not in (None, part.timezone):
                errors.append(
                    f"{file}:1: timezone {part.timezone} differs from "
                    f"{merged['timezone']} in another file"
                )
            merged["timezone"] = part.timezone
        merged["quiet_hours"] += part.quiet_hours
        for spec in part.schedules:
            if spec.name in where:
                errors.append(
                    f"{part_where[spec.name]}: schedule name {spec.name!r} already "
                    f"used at {where[spec.name]}"
                )
                continue
            where[spec.name] = part_where[spec.name]
            merged["schedules"].append(spec)
    if errors:
        raise ScheduleFileError(errors)
    if merged["timezone"] is None:
        merged.pop("timezone")
    return LoadedSchedules(ScheduleSet.model_validate(merged), where)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a schedule file, for editors (published as ``schedules/schema.json``)."""
    schema = ScheduleSet.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Loa Làng schedule file"
    return schema
