"""Hugging Face Spaces entry point: the e3d2 web app (see `e3d2_hf/app.py`)."""

from e3d2_hf.app import build_app

demo = build_app()

if __name__ == "__main__":
    demo.queue().launch()
