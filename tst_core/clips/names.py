"""The names ``tst video``'s options take (codecs' presets, flow qualities, temporal modes, frame
formats), in a module that imports nothing heavy, so building the command line costs no torch."""

from __future__ import annotations

from typing import Literal

FRAME_FORMATS = ("png", "webp")
FlowQuality = Literal["ultrafast", "fast", "medium"]
FLOW_QUALITIES: tuple[FlowQuality, ...] = ("ultrafast", "fast", "medium")
TemporalMode = Literal["auto", "off", "blend", "stabilize", "engine"]
TEMPORAL_MODES: tuple[TemporalMode, ...] = ("auto", "off", "blend", "stabilize", "engine")
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
