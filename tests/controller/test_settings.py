"""Settings by section: each section forbids keys it does not know, a mistyped ``LOALANG_``
variable stops the start naming the closest known one, and the reference in docs/settings.md
is the sections themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.settings import SECTIONS, Settings, unknown_variables
from controller.settings.reference import reference

ROOT = Path(__file__).resolve().parents[2]


def test_every_section_forbids_keys_it_does_not_know_and_describes_each_setting():
    assert len(SECTIONS) >= 8
    for section in SECTIONS:
        assert section.model_config.get("extra") == "forbid", section.__name__
        assert all(f.description for f in section.model_fields.values()), section.__name__
    names = [n for s in SECTIONS for n in s.model_fields]
    assert len(names) == len(set(names)) == len(Settings.model_fields)
    with pytest.raises(ValidationError, match="mqtt_prot"):
        Settings(mqtt_prot=1884)


def test_a_mistyped_variable_names_the_closest_known_one():
    assert unknown_variables({"LOALANG_MQTT_PROT": "1884", "LOALANG_MQTT_PORT": "1"}) == [
        "unknown setting LOALANG_MQTT_PROT (did you mean LOALANG_MQTT_PORT?)"
    ]
    assert unknown_variables({"LOALANG_COMMAND_VALIDITY__STOP": "60"}) == []
    assert unknown_variables({"LOALANG_COMMAND_VALIDITY__STPO": "60"}) == [
        "unknown setting LOALANG_COMMAND_VALIDITY__STPO (did you mean "
        "LOALANG_COMMAND_VALIDITY__STOP?)"
    ]
    assert unknown_variables({"LOALANG_TOKEN": "x", "LOALANG_URL": "y", "PATH": "/"}) == []


def test_the_controller_stops_at_start_with_a_message_naming_it(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "loalang.cli", "controller"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LOALANG_DATA_DIR": str(tmp_path), "LOALANG_HTTP_PROT": "1"},
        check=False,
    )
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "settings: unknown setting LOALANG_HTTP_PROT (did you mean LOALANG_HTTP_PORT?)"
    )
    (tmp_path / ".env").write_text("LOALANG_MQTT_PROT=1884\n")  # a .env file the same way
    out = subprocess.run(
        [sys.executable, "-m", "loalang.cli", "controller"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LOALANG_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert out.returncode == 1
    assert "LOALANG_MQTT_PROT (did you mean LOALANG_MQTT_PORT?)" in out.stderr


def test_docs_settings_md_is_the_sections_themselves():
    assert (ROOT / "docs" / "settings.md").read_text() == reference(), (
        "regenerate: python -m controller.settings > docs/settings.md"
    )
