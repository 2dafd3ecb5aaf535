#!/usr/bin/env bash
# The one-command GPU check (benchmarks/gpu.py): paper-size PPO phases against Bailando's
# uncached sampler, rollout tokens/s against the card's bf16 peak, reward-model pairs/s, peak
# memory, fp32 and bf16; on a GPU it writes docs/results/gpu.md. Whenever a GPU is at hand,
# run this first. `--preset tiny` runs it on CPU in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" benchmarks/gpu.py "$@"
