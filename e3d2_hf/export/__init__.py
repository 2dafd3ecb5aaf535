"""Files a dance leaves the package as: video with the song, BVH for DCC tools."""

from .bvh import BvhExport, BvhMotion, read_bvh, solve_rotations, write_bvh
from .video import FFmpegNotFound, find_ffmpeg, media_duration, render_frames, write_video

__all__ = [
    "BvhExport",
    "BvhMotion",
    "FFmpegNotFound",
    "find_ffmpeg",
    "media_duration",
    "read_bvh",
    "render_frames",
    "solve_rotations",
    "write_bvh",
    "write_video",
]
