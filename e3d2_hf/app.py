"""The web page: upload a song, pick a policy, get the dance video and the BVH.

A Gradio app; `app.py` at the repository root (the Spaces convention) and
`e3d2 app` both build it here. Policies are folders or Hub repo ids.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

DEMO_POLICIES = (
    ("pi_RL (learned reward)", "outputs/demo/ppo"),
    ("pi_BC (behaviour cloning)", "outputs/demo/bc"),
    ("pi_RL (Bailando reward)", "outputs/demo/ppo-bailando"),
)
MAX_SECONDS = 60.0


def default_policies() -> dict[str, str]:
    """$E3D2_POLICIES (comma-separated folders or repo ids), else the demo's finished policies."""
    listed = [p.strip() for p in os.environ.get("E3D2_POLICIES", "").split(",") if p.strip()]
    if listed:
        return {p: p for p in listed}
    return {name: path for name, path in DEMO_POLICIES if (Path(path) / "config.json").is_file()}


@lru_cache(maxsize=4)
def _dancer(policy: str):
    from .inference import load_dancer

    return load_dancer(policy)


def dance(song: str | None, policy: str, seconds: float, seed: int) -> tuple[str, str, str]:
    """(video path, BVH path, a line about the dance); user errors become `gr.Error` messages."""
    import gradio as gr

    from .errors import E3D2Error
    from .inference import dance_to_song, save_dance

    if not song:
        raise gr.Error("Upload a song first.")
    if not policy:
        raise gr.Error("No policy: train one with `e3d2 demo` or start the app with --policy.")
    try:
        model, vqvae = _dancer(policy)
        result = dance_to_song(model, vqvae, song, duration=float(seconds), seed=int(seed))
        out = Path(tempfile.mkdtemp(prefix="e3d2-dance-"))
        files = save_dance(result, out, Path(song).stem or "dance", ("mp4", "bvh"), video_fps=24.0)
    except (E3D2Error, ValueError, FileNotFoundError, OSError) as exc:
        raise gr.Error(str(exc)) from None
    video = files.get("mp4") or files.get("gif")
    note = (
        f"{result.duration:.1f} s of {result.skeleton.name} dance, {len(result.upper_ids)} tokens"
        + ("" if "mp4" in files else " (no ffmpeg: a GIF without sound)")
    )
    return str(video), str(files["bvh"]), note


def build_app(policies: dict[str, str] | None = None):
    import gradio as gr

    policies = default_policies() if policies is None else policies
    choices = [(name, path) for name, path in policies.items()]
    with gr.Blocks(title="E3D2 dance") as app:
        gr.Markdown(
            "# E3D2: dance to any song\n"
            "Upload a song, pick a policy, and get a 3D dance with the song as its sound track, "
            "plus a BVH for Blender. Dances are generated on this machine's CPU: keep them short."
        )
        with gr.Row():
            with gr.Column():
                song = gr.Audio(label="Song", type="filepath", sources=["upload"], elem_id="song")
                policy = gr.Dropdown(
                    choices=choices,
                    value=choices[0][1] if choices else None,
                    label="Policy",
                    allow_custom_value=True,
                    elem_id="policy",
                )
                seconds = gr.Slider(2, MAX_SECONDS, value=10, step=1, label="Seconds to dance")
                seed = gr.Number(value=0, precision=0, label="Seed")
                button = gr.Button("Dance", variant="primary", elem_id="dance")
            with gr.Column():
                video = gr.Video(label="Dance", elem_id="video", autoplay=False)
                bvh = gr.File(label="BVH (Blender: File > Import > Motion Capture)", elem_id="bvh")
                status = gr.Markdown(elem_id="status")
        button.click(dance, [song, policy, seconds, seed], [video, bvh, status])
    return app


def launch(policies: list[str] | None = None, host: str = "127.0.0.1", port: int = 7860) -> None:
    app = build_app({p: p for p in policies} if policies else None)
    app.queue().launch(server_name=host, server_port=port, show_error=True)


if __name__ == "__main__":
    launch()
