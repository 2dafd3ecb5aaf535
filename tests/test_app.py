"""The web app in a real headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import soundfile

from .conftest import REPO

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL on the CPU (SwiftShader) for the 3D view; the song may play without a click
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.skip("no Chromium: install Debian's `chromium` package (.ci/run does, as root)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tiny_policy, tiny_vqvae, tmp_path_factory):
    pytest.importorskip("gradio", reason="the web app needs gradio (pip install -e '.[app]')")
    from e3d2_hf.models import DancePolicy

    policy_dir = tmp_path_factory.mktemp("app") / "policy"
    policy = DancePolicy.from_pretrained(tiny_policy)
    policy.config.vqvae_name_or_path = str(tiny_vqvae)
    policy.save_pretrained(policy_dir)
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = open(policy_dir.parent / "app.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "e3d2_hf.cli", "app", "--policy", str(policy_dir), "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    log.flush()
                    pytest.fail(
                        "the app did not start:\n"
                        + (policy_dir.parent / "app.log").read_text()[-3000:]
                    )
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture()
def page(app_url):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (dev extra)"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(app_url)
        page.locator("#dance").wait_for(timeout=60_000)
        yield page
        browser.close()


def _song(path, seconds: float, silent: bool = False):
    rate = 22050
    t = np.arange(int(rate * seconds)) / rate
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95).astype(np.float32)  # clicks at 120 BPM over a tone
    audio = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.5 * beat * np.sin(2 * np.pi * 1000 * t)
    soundfile.write(path, np.zeros_like(audio) if silent else audio.astype(np.float32), rate)
    return str(path)


def test_upload_a_song_and_get_a_playable_dance_video(page, tmp_path):
    page.locator("#song input[type=file]").set_input_files(_song(tmp_path / "song.wav", 3.0))
    page.locator("#song audio").first.wait_for(state="attached", timeout=60_000)
    page.locator("#dance").click()
    page.locator("#video video").wait_for(timeout=180_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#video video');"
        " return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=60_000,
    )
    duration = page.evaluate("document.querySelector('#video video').duration")
    assert duration == pytest.approx(3.0, abs=0.1)
    assert page.locator("#video video").get_attribute("src")
    assert page.locator("#bvh").get_by_text(".bvh").count() >= 1
    assert "3.0 s of smpl24 dance" in page.locator("#status").inner_text()


def test_a_silent_song_is_a_clear_message_in_the_page(page, tmp_path):
    page.locator("#song input[type=file]").set_input_files(
        _song(tmp_path / "quiet.wav", 2.0, silent=True)
    )
    page.locator("#song audio").first.wait_for(state="attached", timeout=60_000)
    page.locator("#dance").click()
    page.get_by_text("audio is silent").first.wait_for(timeout=120_000)
    assert page.locator("#video video").count() == 0


def _changed_pixels(first: bytes, second: bytes) -> np.ndarray:
    import io

    from PIL import Image

    a, b = (
        np.asarray(Image.open(io.BytesIO(x)).convert("RGB"), dtype=int) for x in (first, second)
    )
    return np.abs(a - b).sum(-1) > 30


def test_the_3d_view_turns_and_dances_in_time_with_the_song(page, tmp_path):
    page.locator("#song input[type=file]").set_input_files(_song(tmp_path / "song.wav", 4.0))
    page.locator("#song audio").first.wait_for(state="attached", timeout=60_000)
    page.locator("#dance").click()
    canvas = page.locator("#viewer canvas.e3d2-canvas")
    canvas.wait_for(timeout=180_000)
    page.get_by_text("s of dance: drag to turn").wait_for(timeout=60_000)
    audio = "document.querySelector('#viewer audio.e3d2-audio')"
    page.wait_for_function(f"() => {audio}.readyState >= 2", timeout=60_000)
    assert page.evaluate(f"{audio}.duration") == pytest.approx(4.0, abs=0.1)
    still = canvas.screenshot()
    assert not _changed_pixels(still, canvas.screenshot()).any()  # paused: the figure holds

    page.evaluate(f"{audio}.play()")
    page.wait_for_function(f"() => {audio}.currentTime > 0.3", timeout=30_000)
    first = canvas.screenshot()
    start = page.evaluate(f"{audio}.currentTime")
    page.wait_for_timeout(1000)
    second = canvas.screenshot()
    assert page.evaluate(f"{audio}.currentTime") - start > 0.5  # the song plays
    assert not page.evaluate(f"{audio}.paused")
    changed = _changed_pixels(first, second)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 200, "the figure did not move between two frames a second apart"
    # the change is the figure's, inside the picture, not the whole canvas redrawn
    assert changed.mean() < 0.5 and rows.min() > 0 and cols.min() > 0

    box = canvas.bounding_box()  # turning the view with the mouse changes the picture too
    page.evaluate(f"{audio}.pause()")
    page.wait_for_timeout(200)
    before = canvas.screenshot()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 150, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert _changed_pixels(before, canvas.screenshot()).sum() > 200
