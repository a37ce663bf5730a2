"""The agent's AT reader against the modem simulator on a pty: messages indicated, read,
handed over and deleted; a hung, garbled or SIM-less modem said as a fault, then cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.modem import ModemError, ReceivedSms, SmsModem, read_messages, signal_dbm
from firmware_bridge.modem_simulator import ModemSimulator, SmsNetwork
from tests.support.stack import wait_for


@pytest.fixture
def modem(tmp_path: Path):
    sim = ModemSimulator(tmp_path / "ttyModem").start()
    network = SmsNetwork()
    network.attach("+84901000001", sim)
    received: list[ReceivedSms] = []
    faults: list[str | None] = []
    reader = SmsModem(
        str(sim.port), 115200, received.append, faults.append, poll_s=0.5, reopen_s=0.3
    )
    yield sim, reader, received, faults
    reader.stop()
    sim.stop()


def test_a_stored_and_a_new_message_are_read_once_and_deleted(modem):
    sim, reader, received, faults = modem
    sim.receive("+84987000111", "stored while the agent was off")
    reader.start()
    wait_for(lambda: faults == [None], what="the modem set up")
    assert [c for c in sim.commands if c.startswith("AT+C")][:5] == [
        "AT+CMEE=2",
        "AT+CPIN?",
        "AT+CMGF=1",
        'AT+CSCS="IRA"',
        "AT+CNMI=2,1,0,0,0",
    ]
    wait_for(lambda: len(received) == 1, what="the stored message")
    sim.receive("+84987000222", "LL1 P A storm 1 2 3 sig")
    wait_for(lambda: len(received) == 2, what="the indicated message")
    assert [(r.sender, r.text) for r in received] == [
        ("+84987000111", "stored while the agent was off"),
        ("+84987000222", "LL1 P A storm 1 2 3 sig"),
    ]
    wait_for(lambda: not sim.store, what="both deleted from the SIM")
    assert any(c.startswith("AT+CMGR=") for c in sim.commands)  # read on its +CMTI
    wait_for(lambda: reader.readings().connected, what="readings")
    readings = reader.readings()
    assert (readings.sim, readings.registered, readings.signal_dbm, readings.operator) == (
        "READY",
        True,
        -73,
        "Viettel",
    )
    assert len(received) == 2  # polls list the store again: nothing read twice


def test_a_lost_sim_a_hang_and_garbage_are_faults_that_clear(modem):
    sim, reader, received, faults = modem
    reader.start()
    wait_for(lambda: faults == [None], what="the modem set up")
    sim.remove_sim()
    wait_for(lambda: len(faults) == 2, what="the lost SIM said")
    assert "SIM" in (faults[1] or "")
    assert not reader.readings().connected
    sim.insert_sim()
    wait_for(lambda: faults[-1] is None, what="the SIM back")
    sim.hang()
    wait_for(lambda: faults[-1] is not None, timeout=30, what="a hung modem said")
    assert "no answer" in (faults[-1] or "")
    sim.hang(False)
    wait_for(lambda: faults[-1] is None, timeout=30, what="the modem answers again")
    sim.garbage()
    wait_for(lambda: faults[-1] is not None, what="garbage said")
    assert "garbage" in (faults[-1] or "")
    wait_for(lambda: faults[-1] is None, timeout=30, what="well again after garbage")
    sim.receive("+84987000333", "after the faults")
    wait_for(lambda: [r.text for r in received] == ["after the faults"], what="still reading")


def test_answers_read_as_the_manuals_write_them():
    lines = [
        '+CMGL: 1,"REC UNREAD","+84912345678","","26/12/06,16:40:00+28"',
        "LL1 S A - 1 2 3 x",
        '+CMGL: 4,"REC READ","Viettel","","26/12/06,16:41:00+28"',
        "two",
        "lines",
    ]
    assert read_messages(lines) == [
        (1, "+84912345678", "LL1 S A - 1 2 3 x"),
        (4, "Viettel", "two\nlines"),
    ]
    assert signal_dbm(["+CSQ: 31,99"]) == -51
    assert signal_dbm(["+CSQ: 99,99"]) is None
    with pytest.raises(ModemError, match="not a message"):
        read_messages(["hello"])
    with pytest.raises(ModemError, match=r"no \+CSQ"):
        signal_dbm(["+CREG: 0,1"])
