"""Dance videos: a 3D skeleton over a floor, drawn with matplotlib, encoded by ffmpeg.

ffmpeg comes from the `imageio-ffmpeg` wheel (or the system). The song goes in
as the audio track, cut to the dance. Without ffmpeg the fallback is an
animated GIF (no sound), and the caller is told.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data.layout import MOTION_FPS
from ..data.skeleton import Skeleton
from ..utils.errors import E3D2Error
from .figure import (
    COLOURS,
    FRONT_THREE_QUARTER_DEG,
    HEAD_RADIUS,
    LIMB_RADIUS,
    facing,
    head_centres,
    side,
)

logger = logging.getLogger(__name__)


class FFmpegNotFound(E3D2Error):
    """No ffmpeg binary to encode an mp4."""


def find_ffmpeg() -> str | None:
    """The ffmpeg binary: imageio-ffmpeg's, else one on PATH; None when there is none."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        if exe and os.access(exe, os.X_OK):
            return exe
    except (ImportError, RuntimeError):
        pass
    return shutil.which("ffmpeg")


def _to_plot_axes(points: np.ndarray, up_axis: str) -> np.ndarray:
    """Skeleton coordinates -> matplotlib's z-up axes (x, depth, up)."""
    if up_axis == "y":
        return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)
    return points


def render_frames(
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float = 30.0,
    source_fps: float = MOTION_FPS,
    size: tuple[int, int] = (640, 480),
    title: str | None = None,
    progress: bool = True,
) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 frames of the dance at `fps` (resampled from `source_fps`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    points = _to_plot_axes(np.asarray(joints, dtype=np.float64), skeleton.up_axis)
    num_frames = int(np.floor(len(points) / source_fps * fps + 1e-9))
    floor_height = float(np.min(points[..., 2]))
    centre = points[:, skeleton.root].mean(axis=0)
    reach = max(0.8, float(np.max(np.abs(points[..., :2] - centre[:2]))) + 0.2)
    height = float(np.max(points[..., 2]) - floor_height)

    dpi = 100
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    ax = fig.add_subplot(projection="3d")
    ax.set_xlim(centre[0] - reach, centre[0] + reach)
    ax.set_ylim(centre[1] - reach, centre[1] + reach)
    ax.set_zlim(floor_height, floor_height + max(height, 2 * reach) * 1.05)
    ax.set_box_aspect((1, 1, max(height, 2 * reach) * 1.05 / (2 * reach)), zoom=1.2)
    forward = _to_plot_axes(facing(joints, skeleton), skeleton.up_axis)
    ax.view_init(
        elev=12,
        azim=float(np.degrees(np.arctan2(forward[1], forward[0]))) + FRONT_THREE_QUARTER_DEG,
    )
    ax.set_axis_off()
    grid = np.linspace(-reach, reach, 9)
    for g in grid:
        ax.plot(
            centre[0] + [g, g], centre[1] + [-reach, reach], [floor_height] * 2, color="0.8", lw=0.8
        )
        ax.plot(
            centre[0] + [-reach, reach], centre[1] + [g, g], [floor_height] * 2, color="0.8", lw=0.8
        )
    # sizes in points from metres: the vertical extent fills about 80% of the frame
    points_per_metre = 0.8 * size[1] / (max(height, 2 * reach) * 1.05) * 72 / dpi * 1.2
    colour = {name: matplotlib.colors.to_hex(rgb) for name, rgb in COLOURS.items()}
    lines = [
        ax.plot([], [], [], lw=2 * LIMB_RADIUS * points_per_metre, solid_capstyle="round",
                color=colour[side(skeleton, child)])[0]
        for child, _ in skeleton.bones
    ]  # fmt: skip
    heads = head_centres(points, skeleton)
    head = None
    if heads is not None:
        (head,) = ax.plot([], [], [], "o", ms=2 * HEAD_RADIUS * points_per_metre,
                          color=colour["centre"], zorder=5)  # fmt: skip
    (shadow,) = ax.plot([], [], [], "o", color="0.6", ms=4)
    caption = fig.text(0.03, 0.95, "", fontsize=11)
    from tqdm.auto import tqdm

    try:
        for k in tqdm(
            range(num_frames), desc="render video", unit="frame", leave=False, disable=not progress
        ):
            frame = points[min(int(round(k * source_fps / fps)), len(points) - 1)]
            for line, (child, parent) in zip(lines, skeleton.bones, strict=True):
                segment = frame[[parent, child]]
                line.set_data_3d(segment[:, 0], segment[:, 1], segment[:, 2])
            shadow.set_data_3d(frame[:, 0], frame[:, 1], np.full(len(frame), floor_height))
            if head is not None:
                centre_k = heads[min(int(round(k * source_fps / fps)), len(points) - 1)]
                head.set_data_3d([centre_k[0]], [centre_k[1]], [centre_k[2]])
            caption.set_text(f"{title + '  ' if title else ''}{k / fps:5.2f} s")
            canvas.draw()
            yield np.asarray(canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def write_video(
    path: str | os.PathLike,
    joints: np.ndarray,
    skeleton: Skeleton,
    audio: tuple[np.ndarray, int] | None = None,
    fps: float = 30.0,
    source_fps: float = MOTION_FPS,
    title: str | None = None,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """Write an mp4 (H.264 + AAC from `audio` = (samples, rate)) or, for a .gif path, a GIF.

    The audio is cut to the dance's length. Written under a temporary name and
    renamed, so a failed render leaves nothing behind. Raises `FFmpegNotFound`
    for an mp4 when no ffmpeg exists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = render_frames(joints, skeleton, fps, source_fps, size, title)
    duration = len(joints) / source_fps
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        if path.suffix.lower() == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            ffmpeg = find_ffmpeg()
            if ffmpeg is None:
                raise FFmpegNotFound(
                    "no ffmpeg found (pip install imageio-ffmpeg, or install ffmpeg); "
                    "ask for a .gif instead"
                )
            _write_mp4(tmp, frames, fps, size, ffmpeg, audio, duration)
        os.replace(tmp, path)
    finally:
        frames.close()
        tmp.unlink(missing_ok=True)
    return path


def _write_gif(path: Path, frames: Iterator[np.ndarray], fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:],
        duration=int(round(1000 / fps)), loop=0,
    )  # fmt: skip


def _write_mp4(
    path: Path,
    frames: Iterator[np.ndarray],
    fps: float,
    size: tuple[int, int],
    ffmpeg: str,
    audio: tuple[np.ndarray, int] | None,
    duration: float,
) -> None:
    import soundfile

    with tempfile.TemporaryDirectory() as work:
        silent = Path(work) / "video.mp4"
        command = [
            ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:g}", "-i", "-",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "23",
            str(silent if audio is not None else path),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for frame in frames:
                process.stdin.write(frame.tobytes())
        finally:
            process.stdin.close()
            errors = process.stderr.read().decode(errors="replace")
            process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"ffmpeg failed to encode {path.name}: {errors.strip()}")
        if audio is None:
            return
        samples, rate = audio
        wav = Path(work) / "audio.wav"
        soundfile.write(wav, np.asarray(samples)[: int(round(duration * rate))], rate)
        mux = [
            ffmpeg, "-y", "-loglevel", "error", "-i", str(silent), "-i", str(wav),
            "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-t", f"{duration:.6f}",
            "-movflags", "+faststart", "-f", "mp4", str(path),
        ]  # fmt: skip
        result = subprocess.run(mux, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"ffmpeg failed to add the audio to {path.name}: {result.stderr.strip()}"
            )


def media_duration(path: str | os.PathLike) -> float:
    """Duration (s) of a media file as ffmpeg reads it (what ffprobe's format duration says)."""
    import re

    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise FFmpegNotFound("no ffmpeg found to read the duration")
    result = subprocess.run([ffmpeg, "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    if not match:
        raise ValueError(f"ffmpeg cannot read {path}: {result.stderr.strip()[-300:]}")
    h, m, s = match.groups()
    return int(h) * 3600 + int(m) * 60 + float(s)
