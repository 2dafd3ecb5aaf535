"""the web page: upload a song, get the dance video and BVH

A Gradio app (the Spaces convention: `app.py` at the repository root runs the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..app import launch


@dataclass
class Arguments:
    policy: list[str] | None = field(
        default=None,
        metadata={
            "repeat": True,
            "help": "a policy folder or repo id to offer; repeat (default: the demo's policies)",
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "address to serve on"})
    port: int = field(default=7860, metadata={"help": "port to serve on"})


def run(args: Arguments) -> int:
    launch(args.policy, host=args.host, port=args.port)
    return 0
