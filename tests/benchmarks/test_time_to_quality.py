"""benchmarks.time_to_quality: a recipe trained under a wall-time budget, measured as gan.evaluate
measures shipped weights at each checkpoint, with the table it prints and the bars it reads."""
from __future__ import annotations

import json

import pytest

import benchmarks.common
import benchmarks.time_to_quality as ttq
from gan.config import TrainConfig

TINY = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "batch_size=8",
        "--set", "steps=4", "--eval-every", "2", "--threads", "1"]


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(benchmarks.common, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(ttq, "RESULTS_DIR", tmp_path / "results")
    return tmp_path / "results"


@pytest.mark.slow
def test_a_recipe_runs_and_prints_its_curve(core_mnist_dir, results_dir, capsys):
    data = core_mnist_dir()
    assert ttq.main(["--preset", "quick", "--data-dir", str(data), "--name", "tiny", *TINY]) == 0
    out = capsys.readouterr().out
    assert "train min" in out and "coverage" in out and "the first weights' quality" in out
    results = json.loads((results_dir / "time_to_quality_tiny.json").read_text())
    assert [m["step"] for m in results["curve"]] == [0, 2, 4]  # from the untrained generator on
    assert results["floor"] > 0 and results["command"].startswith("python -m benchmarks.time_to_quality")
    assert all(0 <= m["coverage"] <= 1 for m in results["curve"])
    assert (results_dir / "time_to_quality_tiny.png").stat().st_size > 0
    # the run is train()'s: a checkpoint to resume, the evaluations in its metrics history
    assert (results_dir.parent / "runs" / "time_to_quality" / "tiny" / "checkpoint.pt").is_file()
    assert ttq.main(["--from-run", "runs/time_to_quality/tiny", "--data-dir", str(data)]) == 0
    assert "4 " in capsys.readouterr().out


@pytest.mark.slow
def test_the_wall_time_budget_stops_the_run_and_resume_continues(core_mnist_dir, results_dir, capsys):
    data = core_mnist_dir()
    budget = ["--minutes", "0.0001"]  # stops at the first check, with a checkpoint
    assert ttq.main(["--data-dir", str(data), "--name", "short", *TINY, *budget,
                     "--set", "log_every=1"]) == 0
    first = json.loads((results_dir / "time_to_quality_short.json").read_text())["curve"]
    assert [m["step"] for m in first] == [0, 1]  # the untrained generator, then the first check
    assert ttq.main(["--resume", "runs/time_to_quality/short", "--data-dir", str(data)]) == 0
    assert [m["step"] for m in json.loads((results_dir / "time_to_quality_short.json").read_text())["curve"]] \
        == [0, 1, 2, 4]


def test_recipe_config_applies_the_preset_then_each_setting(tmp_path):
    cfg = ttq.recipe_config("gpu", ["lr_d=1e-3", "model.g_width=48", "bf16=false"], run_dir=tmp_path,
                            minutes=2, eval_every=100, data_dir=None, threads=1, export_dir=None)
    assert cfg.batch_size == 512 and cfg.lr_d == 1e-3 and cfg.model.g_width == 48 and cfg.bf16 is False
    assert cfg.time_limit_s == 120 and cfg.metrics_every == 100 and cfg.metrics_samples == 10_000
    assert isinstance(cfg, TrainConfig)


@pytest.mark.parametrize("setting, message", [
    ("lr_d", "wants name=value"), ("lr_x=1", "no such setting"), ("model.depth=2", "no such setting"),
    ("steps=many", "is not a int"), ("bf16=yes", "is not a bool"),
    ("run_dir=/tmp/x", "the benchmark sets it (use --name)"), ("threads=4", "use --threads"),
    ("metrics_samples=100", "10,000, as gan.evaluate"),
])
def test_bad_settings_are_refused_with_what_is_allowed(setting, message, core_mnist_dir, results_dir, capsys):
    assert ttq.main(["--data-dir", str(core_mnist_dir()), "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_bad_budgets_and_a_missing_data_dir_are_refused(results_dir, capsys, monkeypatch):
    for argv in (["--minutes", "0"], ["--minutes", "nan"], ["--eval-every", "0"]):
        with pytest.raises(SystemExit):
            ttq.main(argv)
        assert "must be" in capsys.readouterr().err
    for name in ("../up", "a/b", ""):
        with pytest.raises(SystemExit):
            ttq.main(["--name", name])
        assert "--name must be" in capsys.readouterr().err
    assert ttq.main(["--from-run", "nowhere", "--data-dir", "."]) == 2
    assert "cannot read nowhere/metrics_history.json" in capsys.readouterr().err
    assert ttq.main(["--resume", "nowhere", "--data-dir", "."]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    monkeypatch.delenv("DIGITGAN_DATA_DIR", raising=False)
    assert ttq.main([]) == 2
    assert "--data-dir" in capsys.readouterr().err
