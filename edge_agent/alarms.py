"""Which alarm conditions hold, from hardware readings, and which of them changed. Pure: no I/O.

The tracker remembers the active set (the agent persists it), so a restart raises nothing
twice and still clears what ended while the agent was down.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.messages import AlarmCode, HardwareReadings


@dataclass(frozen=True)
class Thresholds:
    battery_low_v: float = 11.5  # a 12 V lead-acid battery near the end of its charge
    over_temperature_c: float = 65.0
    temperature_hysteresis_c: float = 5.0  # cleared only once this much cooler
    line_min_ma: int = 20  # less than this in a powered line: open circuit or dead horn


@dataclass(frozen=True)
class Condition:
    code: AlarmCode
    channel: int | None = None
    value: float | None = None
    detail: str = ""

    @property
    def key(self) -> str:
        return self.code.value if self.channel is None else f"{self.code.value}:{self.channel}"


def dead_channels(line_ma: list[int], amplifiers: list[bool], min_ma: int) -> list[int]:
    """Powered channels whose speaker line carried (almost) no current."""
    pairs = zip(line_ma, amplifiers, strict=False)  # a board may report fewer lines
    return [ch for ch, (ma, on) in enumerate(pairs) if on and ma < min_ma]


def board_conditions(
    readings: HardwareReadings, thresholds: Thresholds, active: set[str]
) -> tuple[list[Condition], set[str]]:
    """Conditions read from a status answer, and the keys this reading can speak about.

    Speaker lines are judged during plays only (see ``dead_channels``): an idle line carries
    no current. ``active`` gives hysteresis for temperature.
    """
    if not readings.connected:
        return [Condition(AlarmCode.mcu_unreachable, detail="no answer from the control board")], {
            AlarmCode.mcu_unreachable.value
        }
    found: list[Condition] = []
    judged = {AlarmCode.mcu_unreachable.value}
    if readings.mains is not None:
        judged.add(AlarmCode.mains_lost.value)
        if not readings.mains:
            found.append(
                Condition(AlarmCode.mains_lost, value=readings.battery_v, detail="on battery")
            )
    if readings.battery_v is not None:
        judged.add(AlarmCode.battery_low.value)
        if readings.battery_v < thresholds.battery_low_v:
            found.append(
                Condition(
                    AlarmCode.battery_low,
                    value=readings.battery_v,
                    detail=f"battery {readings.battery_v:.1f} V",
                )
            )
    if readings.door_open is not None:
        judged.add(AlarmCode.door_open.value)
        if readings.door_open:
            found.append(Condition(AlarmCode.door_open))
    if readings.temperature_c is not None:
        judged.add(AlarmCode.over_temperature.value)
        limit = thresholds.over_temperature_c
        if AlarmCode.over_temperature.value in active:
            limit -= thresholds.temperature_hysteresis_c
        if readings.temperature_c >= limit:
            found.append(
                Condition(
                    AlarmCode.over_temperature,
                    value=readings.temperature_c,
                    detail=f"cabinet {readings.temperature_c:.1f} °C",
                )
            )
    return found, judged


def line_conditions(
    line_ma: list[int], amplifiers: list[bool], thresholds: Thresholds
) -> tuple[list[Condition], set[str]]:
    """Speaker-line conditions from a reading taken while audio played."""
    judged = {
        f"{AlarmCode.speaker_line.value}:{ch}"
        for ch, on in enumerate(amplifiers[: len(line_ma)])
        if on
    }
    found = [
        Condition(
            AlarmCode.speaker_line,
            channel=ch,
            value=line_ma[ch],
            detail=f"line {ch + 1}: {line_ma[ch]} mA",
        )
        for ch in dead_channels(line_ma, amplifiers, thresholds.line_min_ma)
    ]
    return found, judged


def disk_conditions(
    free_mb: int | None, low_mb: float, active: set[str]
) -> tuple[list[Condition], set[str]]:
    """Storage nearly full: raised below ``low_mb`` free, cleared only above 1.5 times it."""
    key = AlarmCode.disk_low.value
    if free_mb is None:
        return [], set()
    limit = low_mb * 1.5 if key in active else low_mb
    found = (
        [Condition(AlarmCode.disk_low, value=float(free_mb), detail=f"{free_mb} MB free")]
        if free_mb < limit
        else []
    )
    return found, {key}


class AlarmTracker:
    """The set of active alarms; ``update`` says which began and which ended."""

    def __init__(self, active: dict[str, Condition] | None = None):
        self.active: dict[str, Condition] = dict(active or {})

    def update(
        self, found: list[Condition], judged: set[str]
    ) -> tuple[list[Condition], list[Condition]]:
        """Apply what one reading found among the keys it ``judged``: (raised, cleared)."""
        now = {c.key: c for c in found}
        raised = [c for key, c in now.items() if key not in self.active]
        cleared = [c for key, c in self.active.items() if key in judged and key not in now]
        for c in cleared:
            del self.active[c.key]
        self.active.update(now)
        return raised, cleared
