"""benchmarks/gpu.sh end to end in its CPU smoke mode: every step of the GPU run, tiny, on
synthetic MNIST files, so that the one run on a GPU machine is known to work."""
import json
import re
import subprocess
import sys

import pytest

from gan.model.weights import load_generator
from tests.support.processes import REPO_ROOT, core_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EXPECTED_STEPS = ["env", "cuda_tests", "bench_eager", "quality_train", "quality_eval", "bench_tuned",
                  "shipped_eval", "ddp_smoke", "bench_compile"]


def test_gpu_script_smoke_mode_runs_every_step(tmp_path):
    results = tmp_path / "results"
    shipped_metrics = (REPO_ROOT / "weights" / "metrics.json").read_bytes()
    env = {**core_env(), "CPU_SMOKE": "1", "PYTHON": sys.executable, "GPU_SH_BUDGET_S": "840"}
    done = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu.sh"), str(results)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    rows = [line.split("\t") for line in (results / "steps.tsv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows if r[0] != "nvidia_smi"] == EXPECTED_STEPS
    assert all(r[1] == "0" for r in rows), rows
    for name in EXPECTED_STEPS:
        assert (results / f"{name}.log").is_file(), name

    env_facts = json.loads((results / "env.json").read_text())
    assert env_facts["training_imports_without_gradio"] is True
    summary = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped \(device cpu\)",
                        (results / "cuda_tests.log").read_text())
    assert summary, "the CUDA checks printed no summary"
    passed, failed, skipped = map(int, summary.groups())
    # on the CPU every check runs but those that need a real GPU, and none fails
    assert failed == 0 and passed > 0 and passed + skipped >= 9, summary.group(0)
    for name, sizes in (("bench_eager", [8, 16]), ("bench_tuned", [8, 16]), ("bench_compile", [16])):
        bench = json.loads((results / f"{name}.json").read_text())
        assert [r["batch_size"] for r in bench["throughput"]] == sizes, name
        assert all(r["images_per_s"] > 0 and r["flops_per_image"] > 0 for r in bench["throughput"]), name
    assert json.loads((results / "bench_compile.json").read_text())["throughput"][0]["compile"] is True

    # the quality run exported weights that load and were evaluated; the summary read them
    generator = load_generator(results / "quality_weights")
    assert generator.generate([3], [0]).shape == (1, 28, 28)
    metrics = json.loads((results / "quality_weights" / "metrics.json").read_text())
    assert 0.0 <= metrics["class_accuracy"] <= 1.0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["quality"]["wall_s"] > 0 and summary["epoch_goal"]["batch_size"] in (8, 16)
    assert summary["ddp_smoke"] == {"world_size": 1, "device": "cpu"}
    assert "## Goals" in (results / "summary.md").read_text()
    # the shipped weights were evaluated as a copy: the repository's metrics are untouched
    assert (results / "shipped_weights" / "metrics.json").is_file()
    assert (REPO_ROOT / "weights" / "metrics.json").read_bytes() == shipped_metrics
    assert not list(results.rglob("checkpoint.pt"))  # deleted at the end: only exports stay
