"""The web page: upload a song, pick a policy, get the dance in 3D, as a video and as a BVH.

A Gradio app; `app.py` at the repository root (the Spaces convention) and
`e3d2 app` both build it here. Policies are folders or Hub repo ids.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache, partial
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


VIEWER_BUNDLE = Path(__file__).parent / "viewer" / "e3d2-viewer.js"
"""three.js and the dance viewer in one ES module, built from `viewer/` (npm run build)."""

VIEWER_JS = """
const mount = async () => {
  const root = element.querySelector('.e3d2-viewer-root');
  if (!props.value || !root) return;
  const spec = JSON.parse(props.value);
  const url = (path) => new URL(path, document.baseURI).href;
  const viewer = await import(url(spec.bundle));
  await viewer.mountDanceViewer(root, { glb: url(spec.glb), audio: url(spec.audio) });
};
const show = () => mount().catch((e) => {
  element.querySelector('.e3d2-viewer-root').textContent = 'The 3D view failed: ' + e;
});
watch('value', show);
show();
"""


def _served(path: Path) -> str:
    """The page-relative URL Gradio serves a file of a static path at."""
    return f"gradio_api/file={path.resolve()}"


def dance(
    song: str | None, policy: str, seconds: float, seed: int, files_root: Path | None = None
) -> tuple[str, str, str, str]:
    """(video path, BVH path, a line about the dance, the 3D view's spec); user errors become
    `gr.Error` messages. The glTF and the song cut to the dance go under `files_root`, which
    the page serves to the viewer."""
    import gradio as gr
    import soundfile

    from .inference import dance_to_song, save_dance, song_title
    from .utils.errors import E3D2Error

    if not song:
        raise gr.Error("Upload a song first.")
    if not policy:
        raise gr.Error("No policy: train one with `e3d2 demo` or start the app with --policy.")
    try:
        model, vqvae = _dancer(policy)
        result = dance_to_song(model, vqvae, song, duration=float(seconds), seed=int(seed))
        out = Path(tempfile.mkdtemp(prefix="e3d2-dance-", dir=files_root))
        name = song_title(song) or "dance"
        files = save_dance(result, out, name, ("mp4", "bvh", "glb"), video_fps=24.0)
        audio = out / f"{name}.wav"
        frames = int(round(result.duration * result.audio_rate))
        soundfile.write(audio, result.audio[:frames], result.audio_rate)
    except (E3D2Error, ValueError, FileNotFoundError, OSError) as exc:
        raise gr.Error(str(exc)) from None
    video = files.get("mp4") or files.get("gif")
    note = (
        f"{result.duration:.1f} s of {result.skeleton.name} dance, {len(result.upper_ids)} tokens"
        + ("" if "mp4" in files else " (no ffmpeg: a GIF without sound)")
    )
    spec = {"bundle": _served(VIEWER_BUNDLE), "glb": _served(files["glb"]), "audio": _served(audio)}
    return str(video), str(files["bvh"]), note, json.dumps(spec)


def build_app(policies: dict[str, str] | None = None):
    import gradio as gr

    policies = default_policies() if policies is None else policies
    choices = [(name, path) for name, path in policies.items()]
    files_root = Path(tempfile.mkdtemp(prefix="e3d2-app-"))
    gr.set_static_paths([VIEWER_BUNDLE.parent, files_root])
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
                gr.Markdown(
                    "**3D view**: drag to turn, scroll to zoom; the figure dances as the song plays."
                )
                viewer = gr.HTML(
                    value="",
                    html_template="<div class='e3d2-viewer-root'></div>",
                    js_on_load=VIEWER_JS,
                    elem_id="viewer",
                )
                video = gr.Video(label="Dance", elem_id="video", autoplay=False)
                bvh = gr.File(label="BVH (Blender: File > Import > Motion Capture)", elem_id="bvh")
                status = gr.Markdown(elem_id="status")
        button.click(
            partial(dance, files_root=files_root),
            [song, policy, seconds, seed],
            [video, bvh, status, viewer],
        )
    return app


def launch(policies: list[str] | None = None, host: str = "127.0.0.1", port: int = 7860) -> None:
    app = build_app({p: p for p in policies} if policies else None)
    app.queue().launch(server_name=host, server_port=port, show_error=True)


if __name__ == "__main__":
    launch()
