"""The host side of the serial link: pyserial, request/response by sequence id, timeouts and
retries, unsolicited events, and a port that may vanish and come back (cable pulled, USB reset).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import serial

from . import codec
from .framing import FrameDecoder, FrameError, Packet, encode

log = logging.getLogger(__name__)


def close_quietly(port: serial.Serial | None) -> None:
    """Close a port that may already be gone (cable pulled): nothing left to report."""
    if port is not None:
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass


class McuTimeout(TimeoutError):
    """No answer after every retry."""


class McuRefused(RuntimeError):
    """The MCU answered ERROR."""

    def __init__(self, error: codec.Error):
        super().__init__(f"MCU error {error.code} for request 0x{error.request_type:02x}")
        self.error = error


class McuLink:
    def __init__(
        self,
        port: str,
        on_event: Callable[[codec.Message], None] | None = None,
        baudrate: int = 115200,
        timeout_s: float = 0.5,
        retries: int = 2,
    ):
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self.on_event = on_event or (lambda message: None)
        self.connected = threading.Event()
        self.frame_errors = 0
        self._serial: serial.Serial | None = None
        self._write_lock = threading.Lock()
        self._pending: dict[int, tuple[threading.Event, list[object]]] = {}
        self._pending_lock = threading.Lock()
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mcu-link", daemon=True)

    def start(self) -> McuLink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._close()

    # --- requests ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._pending_lock:
            self._seq = self._seq % 255 + 1  # 1..255; 0 is never used by the host
            return self._seq

    def request(
        self, message: codec.Message, timeout_s: float | None = None, retries: int | None = None
    ) -> codec.Message:
        """Send a request and wait for its answer; retried with a new sequence id on timeout."""
        attempts = 1 + (self.retries if retries is None else retries)
        wait = self.timeout_s if timeout_s is None else timeout_s
        for _ in range(attempts):
            seq = self._next_seq()
            done = threading.Event()
            slot: list[object] = []
            with self._pending_lock:
                self._pending[seq] = (done, slot)
            try:
                if self._send(encode(codec.to_packet(message, seq))) and done.wait(wait):
                    answer = slot[0]
                    if isinstance(answer, codec.Error):
                        raise McuRefused(answer)
                    return answer  # type: ignore[return-value]
            finally:
                with self._pending_lock:
                    self._pending.pop(seq, None)
        raise McuTimeout(f"no answer to {type(message).__name__} after {attempts} tries")

    def _send(self, data: bytes) -> bool:
        with self._write_lock:
            ser = self._serial
            if ser is None:
                return False
            try:
                ser.write(data)
                return True
            except (serial.SerialException, OSError):
                return False

    # --- reading -------------------------------------------------------------------------

    def _close(self) -> None:
        with self._write_lock:
            close_quietly(self._serial)
            self._serial = None
        self.connected.clear()

    def _run(self) -> None:
        decoder = FrameDecoder()
        delay = 0.1
        while not self._stop.is_set():
            try:
                ser = serial.Serial(self.port, self.baudrate, timeout=0.05)
            except (serial.SerialException, OSError):
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            with self._write_lock:
                self._serial = ser
            decoder.reset()
            self.connected.set()
            delay = 0.1
            log.info("MCU link open on %s", self.port)
            try:
                while not self._stop.is_set():
                    data = ser.read(256)
                    if data:
                        for item in decoder.feed(data):
                            self._dispatch(item)
            except (serial.SerialException, OSError) as exc:
                log.warning("MCU link lost on %s (%s); reopening", self.port, exc)
            self._close()

    def _dispatch(self, item: Packet | FrameError) -> None:
        if isinstance(item, FrameError):
            self.frame_errors += 1
            return
        try:
            message = codec.from_packet(item)
        except codec.CodecError:
            self.frame_errors += 1
            return
        if item.type >= 0xC0:
            try:
                self.on_event(message)
            except Exception:
                log.exception("MCU event handler failed")
            return
        with self._pending_lock:
            waiting = self._pending.get(item.seq)
        if waiting is not None:
            done, slot = waiting
            slot.append(message)
            done.set()
