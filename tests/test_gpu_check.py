"""benchmarks/gpu.sh, the one-command GPU check, runs end to end on CPU with the tiny preset."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import REPO

GPU_CHECK = REPO / "benchmarks" / "gpu.sh"
FAST = ["--preset", "tiny", "--episodes", "8", "--minibatch", "4", "--iterations", "1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_gpu_check_measures_every_phase_and_writes_its_report(tmp_path):
    out = tmp_path / "gpu.md"
    run = subprocess.run(
        [str(GPU_CHECK), *FAST, "--output", str(out)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# GPU check") and "preset `tiny`" in text
    assert f"Reproduce: `benchmarks/gpu.sh {' '.join(FAST)} --output {out}`" in text
    for precision in ("fp32", "bf16"):
        for sampler in ("cached (ours)", "uncached (Bailando)"):
            row = re.search(rf"\| {precision} \| {re.escape(sampler)} \|([^\n]*)", text)
            seconds = [float(x) for x in row[1].split("|")[:5]]
            assert all(s > 0 for s in seconds) and seconds[4] >= max(seconds[:4]), row[0]
        ratio = re.search(rf"\| {precision} \| ratio baseline / ours \|[ |]*([\d.]+)x", text)
        assert float(ratio[1]) > 0
        throughput = re.search(
            rf"\| {precision} \| ([\d,]+) \| [^|]+ \| n/a \| n/a \(CPU\) \| ([\d,.]+) \|", text
        )
        assert throughput, text
        assert (
            float(throughput[1].replace(",", "")) > 0 and float(throughput[2].replace(",", "")) > 0
        )
    assert "n/a: no dense bf16 peak known" in text  # a CPU has no tensor-core peak to divide by


def test_gpu_check_never_overwrites_a_file_it_did_not_write(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    run = subprocess.run(
        [str(GPU_CHECK), *FAST, "--output", str(notes)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode != 0 and "not written by this script" in run.stderr
    assert notes.read_text() == "my notes\n"


def test_the_fraction_of_peak_uses_the_cards_data_sheet():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from gpu import peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3", None)[0] == 989.0
    assert peak_tflops("NVIDIA H100 PCIe", None)[0] == 756.0
    assert peak_tflops("NVIDIA L40S", None)[0] == 362.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB", None)[0] == 312.0
    assert peak_tflops("Some Card", None) == (
        None,
        "n/a: no dense bf16 peak known for 'Some Card' (pass --peak_tflops)",
    )
    assert peak_tflops("Some Card", 100.0)[0] == 100.0
