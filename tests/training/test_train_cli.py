"""train.py's command line: usage errors, --help, export and resume."""
import dataclasses

import pytest
import torch

import gan.latent.direction_search
import train as train_cli
from gan.config import PRESETS, ModelConfig, TrainConfig
from gan.latent.direction_search import SearchSettings
from gan.latent.directions import stored_directions
from gan.model.weights import DIRECTIONS_FILE, load_generator, weights_fingerprint
from gan.training.run_folder import CHECKPOINT_FILE


@pytest.fixture
def base_args(tmp_path):
    """A tiny valid run; each test appends the flag under test (argparse: the last one wins),
    so a check that fails to fire finishes a one-step run instead of a real training."""
    return ["--synthetic-size", "16", "--batch-size", "8", "--steps", "1", "--g-width", "4",
            "--d-width", "4", "--metrics-every", "0", "--no-progress", "--threads", "1",
            "--device", "cpu", "--run-dir", str(tmp_path / "run"), "--export-dir", "none"]


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        train_cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err
    return err


@pytest.mark.parametrize("extra, message", [
    (["--steps", "0"], "steps must be > 0"),
    (["--lr-g", "-1"], "lr_g must be > 0"),
    (["--lr-d", "0"], "lr_d must be > 0"),
    (["--beta1", "1.5"], "beta1 must be in [0, 1)"),
    (["--batch-size", "0"], "batch_size must be > 0"),
    (["--synthetic-size", "-5"], "synthetic_size must be >= 0"),
    (["--g-width", "0"], "g_width must be a positive int"),
    (["--img-size", "32"], "only img_size=28"),
    (["--device", "bogus"], "--device 'bogus' is not a torch device"),
    (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
    (["--steps", "ten"], "invalid int value: 'ten'"),
    (["--lr-g", "fast"], "invalid float value"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_usage_errors_exit_2_with_a_message(base_args, capsys, core_threads, extra, message):
    assert message in _usage_error(base_args + extra, capsys)


def test_resume_errors(base_args, capsys, core_threads, tmp_path):
    err = _usage_error(base_args + ["--resume", str(tmp_path / "missing")], capsys)
    assert "no checkpoint" in err
    assert train_cli.main(base_args) == 0  # makes run/checkpoint.pt
    err = _usage_error(["--resume", str(tmp_path / "run"), "--g-width", "8"], capsys)
    assert "cannot change the model of a resumed run (g_width)" in err


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        train_cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    fields = [f for cls in (TrainConfig, ModelConfig) for f in dataclasses.fields(cls)
              if f.name != "model"]
    for f in fields:
        flag = "--" + f.name.replace("_", "-")
        assert flag in out, flag
        if f.type == "bool":
            assert "--no-" + f.name.replace("_", "-") in out
    for flag in ("--resume", "--export", "--evaluate", "--no-evaluate", "--no-progress", "--no-directions"):
        assert flag in out
    assert "(default: 16000)" in out  # defaults are shown
    assert "torchrun" in out  # the usage examples


TINY_SEARCH = SearchSettings(count=2, candidates=4, samples_per_digit=2)


def test_run_resume_and_export(base_args, core_threads, tmp_path, monkeypatch):
    monkeypatch.setattr(gan.latent.direction_search, "EXPORT_SEARCH", TINY_SEARCH)  # the quick one takes a minute
    run, weights = tmp_path / "run", tmp_path / "weights"
    assert train_cli.main(base_args + ["--steps", "2", "--batch-size", "4",
                                       "--export-dir", str(weights)]) == 0
    first = load_generator(weights)
    assert first.config.g_width == 4
    # the export came with its directions: the app's Explore tab needs no search for them
    stored = stored_directions(weights, first, weights_fingerprint(weights))
    assert stored is not None and stored.measured and stored.settings["candidates"] == 4
    # resuming keeps the saved configuration (batch size 4) and trains on
    assert train_cli.main(["--resume", str(run), "--steps", "3", "--no-progress",
                           "--export-dir", "none"]) == 0
    ckpt = torch.load(run / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["config"]["batch_size"] == 4 and ckpt["config"]["steps"] == 3
    # --export writes the checkpoint's EMA generator
    assert train_cli.main(["--export", str(run), "--export-dir", str(tmp_path / "exported")]) == 0
    exported = load_generator(tmp_path / "exported")
    for name, p in exported.named_parameters():
        assert torch.equal(p, ckpt["G_ema"][name])
    assert not torch.equal(exported.fc.weight, first.fc.weight)  # step 3, not step 2
    assert stored_directions(tmp_path / "exported", exported, weights_fingerprint(tmp_path / "exported"))
    assert train_cli.main(["--export", str(run), "--export-dir", str(tmp_path / "plain"),
                           "--no-directions"]) == 0
    assert not (tmp_path / "plain" / DIRECTIONS_FILE).exists()


def test_usage_error_in_a_subprocess_has_no_traceback(core_run, core_train_cmd):
    result = core_run(core_train_cmd("--steps", "5", "--device", "bogus"), timeout=120)
    assert result.returncode == 2
    assert "error: --device 'bogus' is not a torch device" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_mnist_exits_1_and_says_what_to_get(core_threads, capsys, tmp_path):
    code = train_cli.main(["--data-dir", str(tmp_path / "none"), "--steps", "1", "--device", "cpu",
                           "--g-width", "4", "--d-width", "4", "--no-progress", "--threads", "1",
                           "--metrics-every", "0", "--run-dir", str(tmp_path / "run")])
    assert code == 1  # returned, not raised: no traceback
    err = capsys.readouterr().err
    assert "error: MNIST train files not found" in err
    assert "train-images-idx3-ubyte" in err and "--data-dir" in err


def _config(argv):
    from gan.training.command_line import build_parser, config_from_args

    return config_from_args(build_parser().parse_args(argv))


def test_a_preset_sets_its_values_and_the_flags_given_win(monkeypatch):
    import gan.config

    monkeypatch.setitem(gan.config.PRESETS, "wide", {"steps": 77, "lr_d": 1e-3,
                                                     "model": {"g_width": 40, "d_width": 24}})
    cfg = _config(["--preset", "wide"])
    assert (cfg.steps, cfg.lr_d, cfg.model.g_width, cfg.model.d_width) == (77, 1e-3, 40, 24)
    assert cfg.model.z_dim == ModelConfig().z_dim  # what the preset does not name keeps its default
    cfg = _config(["--preset", "wide", "--steps", "5", "--g-width", "16"])
    assert (cfg.steps, cfg.lr_d, cfg.model.g_width, cfg.model.d_width) == (5, 1e-3, 16, 24)
    assert gan.config.PRESETS["wide"]["model"] == {"g_width": 40, "d_width": 24}  # left as it was


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_makes_a_valid_config(name):
    cfg = _config(["--preset", name])
    assert isinstance(cfg, TrainConfig) and isinstance(cfg.model, ModelConfig)


def test_presets_keep_the_recipes_they_were_measured_with():
    # README's time-to-quality tables: changing the defaults must not change what v1, quick and
    # gpu train (they name every setting in which they differ from the standard recipe)
    standard = _config([])
    assert (standard.steps, standard.lr_g, standard.lr_d, standard.r1_gamma) == (16000, 1e-3, 1e-3, 1.0)
    assert _config(["--preset", "standard"]) == standard
    quick, v1, gpu = (_config(["--preset", name]) for name in ("quick", "v1", "gpu"))
    assert (quick.steps, quick.lr_g, quick.r1_gamma) == (4000, 1e-3, 0.0)
    assert (v1.steps, v1.lr_g, v1.lr_d, v1.r1_gamma) == (6000, 2e-4, 2e-4, 0.0)
    assert (gpu.batch_size, gpu.steps, gpu.r1_gamma) == (512, 6000, 0.0)
