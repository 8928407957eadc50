"""Synthetic media whose content can be checked after a VP8/Opus round trip.

Video frames carry their own sequence number as a barcode of 16 full-height black/white
bars (40 px each at 640x480): coarse enough to survive lossy compression. Audio is a sine.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc import MediaStreamTrack

WIDTH, HEIGHT = 640, 480
BITS = 16
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_PTIME_S = 0.02


def barcode_frame(number: int, width: int = WIDTH, height: int = HEIGHT) -> av.VideoFrame:
    bits = [(number >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    row = np.repeat(np.array(bits, dtype=np.uint8) * 235 + 10, width // BITS)
    yuv = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    yuv[:height, :] = row[np.newaxis, :]
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


def read_barcode(frame: av.VideoFrame) -> int:
    """Frame number drawn by `barcode_frame` (sampled in the middle of each bar)."""
    gray = frame.to_ndarray(format="gray")
    height, width = gray.shape
    band = gray[height // 4 : 3 * height // 4, :]
    bar = width // BITS
    number = 0
    for i in range(BITS):
        value = band[:, i * bar + bar // 4 : (i + 1) * bar - bar // 4].mean()
        number = (number << 1) | (1 if value > 128 else 0)
    return number


class _Paced:
    """Real-time pacing for a synthetic source (the source itself, not test logic, sleeps)."""

    def __init__(self) -> None:
        self._start: float | None = None

    async def wait(self, seconds_from_start: float) -> None:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + seconds_from_start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class BarcodeVideoTrack(MediaStreamTrack):
    """640x480 video; frame n shows n as a barcode. `sent_at[n]` is when frame n was produced."""

    kind = "video"

    def __init__(self, fps: int = 15) -> None:
        super().__init__()
        self.fps = fps
        self.number = 0
        self.sent_at: dict[int, float] = {}
        self._pace = _Paced()

    async def recv(self) -> av.VideoFrame:
        await self._pace.wait(self.number / self.fps)
        frame = barcode_frame(self.number & 0xFFFF)
        frame.pts = self.number * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent_at[self.number & 0xFFFF] = time.monotonic()
        self.number += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """Mono 48 kHz sine tone in 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency_hz: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency_hz = frequency_hz
        self.amplitude = amplitude
        self._samples = 0
        self._pace = _Paced()

    async def recv(self) -> av.AudioFrame:
        count = int(AUDIO_RATE * AUDIO_PTIME_S)
        await self._pace.wait(self._samples / AUDIO_RATE)
        t = (np.arange(count) + self._samples) / AUDIO_RATE
        samples = (self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency_hz * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += count
        return frame


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin of a mono signal."""
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * rate / len(samples))
