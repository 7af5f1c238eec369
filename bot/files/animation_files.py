"""Animation files: GIF (terminal, docs) and MP4 (Telegram) bytes, cached on disk by content hash."""

from __future__ import annotations

import io
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from hipcoach.bot.files.animation import COLOURS, Animation, images
from hipcoach.content.schema import Content
from hipcoach.flows.values import File

BLENDS = 1  # shades between each colour and the background: smooth edges in a small palette
MP4_OPTIONS = {"crf": "30", "preset": "veryslow", "tune": "animation", "threads": "1"}


def _palette() -> Image.Image:
    """One fixed palette for every frame: each drawing colour blended with the background."""
    back = COLOURS["background"]
    entries: list[tuple[int, ...]] = [back]
    for colour in COLOURS.values():
        for step in range(1, BLENDS + 1):
            entries.append(
                tuple(round(b + (c - b) * step / BLENDS) for b, c in zip(back, colour, strict=True))
            )
    flat = [channel for entry in dict.fromkeys(entries) for channel in entry]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(flat) // 3))
    return palette


def gif(frames: list[Image.Image], fps: int) -> bytes:
    """A looping GIF; frame times in the format's hundredths, rounded so the loop keeps its length."""
    palette = _palette()
    indexed = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    ends = [round((n + 1) * 100 / fps) * 10 for n in range(len(indexed))]
    durations = [end - start for start, end in zip([0, *ends], ends, strict=False)]
    out = io.BytesIO()
    indexed[0].save(out, format="GIF", save_all=True, append_images=indexed[1:], duration=durations, loop=0)
    return out.getvalue()


def mp4(frames: list[Image.Image], fps: int) -> bytes:
    """A silent H.264 MP4, as Telegram's sendAnimation takes it; one encoder thread, so the bytes repeat."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=fps, options=MP4_OPTIONS)
        stream.width, stream.height = (side + -side % 4 for side in frames[0].size)  # whole chroma rows
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for frame in frames:
            padded = Image.new("RGB", (stream.width, stream.height), COLOURS["background"])
            padded.paste(frame)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_yuv420(padded), format="yuv420p")))
        container.mux(stream.encode(None))
    return out.getvalue()


def _yuv420(image: Image.Image) -> np.ndarray:
    """BT.601 limited-range planes, chroma averaged over 2x2 pixels; done here rather than in swscale,
    whose result can vary with how its buffers happen to be aligned."""
    rgb = np.asarray(image, dtype=np.float64)
    luma = 16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255
    blue = 128 + rgb @ np.array([-37.797, -74.203, 112.0]) / 255
    red = 128 + rgb @ np.array([112.0, -93.786, -18.214]) / 255
    height, width = luma.shape

    def quarter(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).reshape(height // 4, width)

    planes = np.concatenate([luma, quarter(blue), quarter(red)])
    return np.clip(np.rint(planes), 0, 255).astype(np.uint8)


ENCODERS = {"gif": gif, "mp4": mp4}


class AnimationCache:
    """Animation files by exercise, kept in `directory` (or only in memory) under their content hash."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.memory: dict[str, bytes] = {}

    def file(self, exercise_id: str, content: Content, kind: str = "mp4") -> File:
        animation = Animation.of(exercise_id, content)
        name = f"{exercise_id}-{animation.digest()[:12]}.{kind}"
        return File(name, self._bytes(name, animation, kind), "animation")

    def _bytes(self, name: str, animation: Animation, kind: str) -> bytes:
        if name in self.memory:
            return self.memory[name]
        path = self.directory / name if self.directory else None
        if path is not None and path.exists():
            data = path.read_bytes()
        else:
            data = ENCODERS[kind](images(animation), animation.figure.frames_per_second)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
                temporary.write_bytes(data)
                temporary.replace(path)
        self.memory[name] = data
        return data
