"""An Opus decoder: libopus (Debian ``libopus0``, which ffmpeg already pulls in) through ctypes.

Decoding the station's live stream here, rather than in an ffmpeg pipe, keeps each packet's
place on the timeline exact (ffmpeg's raw output loses it) and costs no process. Volume is
libopus's own output gain, so no per-sample work is done in Python."""

from __future__ import annotations

import ctypes
import ctypes.util
import math

OPUS_SET_GAIN = 4034  # OPUS_SET_GAIN_REQUEST: output gain in Q8 dB
MAX_FRAME = 5760  # 120 ms at 48 kHz, the longest packet


class OpusError(OSError):
    pass


def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("opus") or "libopus.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise OpusError(f"libopus is not installed ({exc}); install libopus0") from None
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_decoder_ctl.restype = ctypes.c_int
    lib.opus_decoder_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int32]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    return lib


_LIB: ctypes.CDLL | None = None


def gain_q8(volume: int | None) -> int:
    """A volume in percent as libopus's gain (Q8 dB); 0 % is as quiet as it goes."""
    if volume is None or volume == 100:
        return 0
    if volume <= 0:
        return -32768
    return max(-32768, min(32767, round(20 * math.log10(volume / 100) * 256)))


class OpusDecoder:
    """One decoder to 48 kHz mono (a stereo stream is mixed down by libopus itself)."""

    def __init__(self, volume: int | None = None):
        global _LIB
        if _LIB is None:
            _LIB = _lib()
        self._lib = _LIB
        err = ctypes.c_int(0)
        self._state = self._lib.opus_decoder_create(48000, 1, ctypes.byref(err))
        if err.value != 0 or not self._state:
            raise OpusError(f"opus_decoder_create: {self._lib.opus_strerror(err.value).decode()}")
        gain = gain_q8(volume)
        if gain:
            self._lib.opus_decoder_ctl(self._state, OPUS_SET_GAIN, gain)
        self._out = (ctypes.c_int16 * MAX_FRAME)()

    def decode(self, packet: bytes) -> bytes:
        """16-bit mono PCM for one packet; raises OpusError for a corrupt one."""
        n = self._lib.opus_decode(self._state, packet, len(packet), self._out, MAX_FRAME, 0)
        if n < 0:
            raise OpusError(f"opus_decode: {self._lib.opus_strerror(n).decode()}")
        return ctypes.string_at(self._out, n * 2)

    def close(self) -> None:
        if self._state:
            self._lib.opus_decoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:  # a decoder dropped without close
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
