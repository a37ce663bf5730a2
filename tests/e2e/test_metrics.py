"""Prometheus metrics from a running controller after a real broadcast, read as Prometheus
reads them; and the agent's own counters in its health report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import Stack, wait_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_after_a_broadcast_and_the_agents_counters(stack: Stack, speech_wav):
    stack.add_zone("thon-dong", "Thôn Đông")
    stack.register("loa-1", ["thon-dong"])
    stack.register("loa-2", ["thon-dong"])  # never started: offline as far as anyone knows
    stack.start_agent("loa-1")
    media = stack.upload(speech_wav, title="Bản tin")
    b = stack.broadcast(media["sha256"], ["device:loa-1"])
    stack.wait_states(b["id"], {"played"}, timeout=30)
    assert stack.services is not None
    stack.services.ingest.wait_idle(10)

    technician = stack.person("ky-thuat", "technician")
    r = technician.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("loalang_devices", (("status", "online"),))] == 1
    assert m[("loalang_devices", (("status", "unknown"),))] == 1
    assert m[("loalang_deliveries", (("state", "played"),))] == 1
    assert m[("loalang_reports_total", (("result", "applied"),))] >= 4  # ack, ready, start, end
    assert m[("loalang_command_publish_seconds_count", ())] >= 1
    assert m[("loalang_ingest_lag_seconds_count", ())] >= 4
    assert m[("loalang_leader", ())] == 1
    assert m[("loalang_broker_connected", ())] == 1
    assert m[("loalang_commands_pending", ())] == 0
    assert stack.person("phat-thanh", "broadcaster").get("/metrics").status_code == 403
    # the sample Grafana dashboard plots only what the controller exposes
    dashboard = json.loads(
        (Path(__file__).parents[2] / "deploy" / "monitoring" / "grafana-dashboard.json").read_text()
    )
    plotted = {
        name
        for panel in dashboard["panels"]
        for t in panel["targets"]
        for name in re.findall(r"loalang_[a-z_]+", t["expr"])
    }
    exposed = {name for name, _ in m} | {f.name for f in text_string_to_metric_families(r.text)}
    assert plotted, plotted - exposed
    assert plotted <= exposed, plotted - exposed

    def counters():  # type: ignore[no-untyped-def]
        d = stack.api.get("/api/devices/loa-1").json()
        return (d.get("last_health") or {}).get("counters") or {}

    wait_for(
        lambda: counters().get("plays_finished") == 1,
        timeout=20,
        what="a health report counting the play",
    )
    c = counters()
    assert c["plays_started"] == 1
    assert c["commands_accepted"] >= 1
    assert c["commands_refused"] == 0
