"""The agent's config file: what the controller writes is what the agent reads."""

from __future__ import annotations

import pytest

from edge_agent.config import AgentConfig, ConfigError
from tests.support.stack import Stack


def test_registration_writes_a_config_the_agent_accepts(stack: Stack, tmp_path):
    stack.add_zone("thon-dong")
    r = stack.api.post(
        "/api/devices", json={"id": "loa-1", "name": 'Cụm loa "Đông"', "zones": ["thon-dong"]}
    )
    assert r.status_code == 201
    path = tmp_path / "agent.toml"
    path.write_text(r.json()["config_toml"])
    config = AgentConfig.load(path)
    assert config.device_id == "loa-1"
    assert config.zones == ["thon-dong"]
    assert config.output.backend == "alsa"
    assert list(config.keys) == [stack.services.key.kid]
    assert config.token == r.json()["token"]
    # registering twice is refused, not overwritten
    again = stack.api.post("/api/devices", json={"id": "loa-1", "name": "x"})
    assert again.status_code == 409


def test_bad_configs_say_what_is_wrong(tmp_path):
    path = tmp_path / "agent.toml"
    with pytest.raises(ConfigError, match="no such file"):
        AgentConfig.load(path)
    path.write_text('device_id = "Loa 1"\n')
    with pytest.raises(ConfigError, match="device_id"):
        AgentConfig.load(path)
    path.write_text(
        'device_id = "loa-1"\ncontroller_url = "http://x"\ntoken = "loa-1.abcdefgh"\n'
        'data_dir = "/tmp/x"\n[keys]\nabc = "AAAA"\n'
    )
    with pytest.raises(ConfigError, match="keys"):
        AgentConfig.load(path)
    path.write_text("device_id = [")
    with pytest.raises(ConfigError):
        AgentConfig.load(path)
