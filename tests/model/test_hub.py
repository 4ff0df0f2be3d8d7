"""Hub weights (gan/model/hub.py) without the network: a huggingface_hub cache filled by hand in
the layout the library writes (tests/support/hub_standin.py), HF_HUB_OFFLINE=1, and the suite's
guard that fails a test reaching off this machine (tests/conftest.py). The few online cases talk
to a loopback Hub."""
from __future__ import annotations

import dataclasses
import filecmp
import hashlib
import inspect
import os
import shutil
from pathlib import Path

import huggingface_hub as hf
import huggingface_hub.constants  # noqa: F401 (makes hf.constants, a lazily loaded submodule, an attribute)
import pytest
import torch
import yaml

from gan import WeightsError, load_generator
from gan.model import hub
from gan.model.hub import HubRef, fetch_hub_weights, hub_model_card, parse_hub_ref, push_weights_to_hub
from tests.support.hub_standin import HubRepo, LoopbackHub, write_hub_cache  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "weights"
REPO_ID = "digitgan/mnist-generator"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture(autouse=True)
def hub_env(tmp_path, monkeypatch) -> Path:
    """A private HF_HOME, offline. huggingface_hub reads its env at import, so its
    constants are set too."""
    home = tmp_path / "hf"
    for name, value in {"HF_HOME": home, "HF_HUB_CACHE": home / "hub", "HF_HUB_OFFLINE": "1",
                        "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hf.constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf.constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf.constants, "HF_HUB_OFFLINE", True)
    return home / "hub"


@pytest.fixture
def online(monkeypatch):
    """Online mode, for a loopback Hub only (the guard still refuses anything else)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hf.constants, "HF_HUB_OFFLINE", False)


def shipped_repo(**kwargs) -> HubRepo:
    """The shipped weights as a model repo, with a file the fetch must leave out."""
    repo = HubRepo.from_folder(REPO_ID, SHIPPED, [*hub.HUB_FILES, "samples.png"], **kwargs)
    repo.files[".gitattributes"] = GITATTRIBUTES
    return repo


@pytest.fixture
def cached(hub_env) -> tuple[HubRepo, Path]:
    """The shipped repo in the cache, as a fetch leaves it; returns it and its snapshot."""
    repo = shipped_repo(refs={"main": "", "v1": ""})
    return repo, write_hub_cache(hub_env, repo, allow=hub.HUB_FILES)


def same_images(folder: Path) -> bool:
    digits, seeds = list(range(10)) * 2, list(range(20))
    return torch.equal(load_generator(folder).generate(digits, seeds),
                       load_generator(SHIPPED).generate(digits, seeds))


# ----------------------------------------------------------------------------- references

@pytest.mark.parametrize("text, repo_id, revision", [
    ("hf://digitgan/mnist-generator", REPO_ID, "main"),
    ("hf://me/digits@v1.0", "me/digits", "v1.0"),
    ("hf://Me_2/my.digits@0123456789abcdef0123456789abcdef01234567", "Me_2/my.digits",
     "0123456789abcdef0123456789abcdef01234567"),
    ("hf://me/digits@refs/pr/3", "me/digits", "refs/pr/3"),
])
def test_parse_hub_ref(text, repo_id, revision):
    assert parse_hub_ref(text) == HubRef(repo_id, revision)
    assert str(parse_hub_ref(text)) == f"hf://{repo_id}@{revision}"


@pytest.mark.parametrize("text, says", [
    ("me/digits", "not a Hub reference"), ("https://huggingface.co/me/digits", "not a Hub reference"),
    ("hf://digits", "owner/name"), ("hf://me/digits/extra", "owner/name"), ("hf://", "owner/name"),
    ("hf://me/", "1 to 96"), ("hf://me/di gits", "1 to 96"), ("hf://mé/digits", "1 to 96"),
    ("hf://-me/digits", "may not start or end"), ("hf://me/dig..its", "'--' or '..'"),
    ("hf://me/digits.git", ".git"), ("hf://me/digits@", "nothing after '@'"),
    ("hf://me/digits@v1..2", "the revision"), ("hf://me/digits@/main", "the revision"),
    ("hf://me/digits@a b", "the revision"), (None, "not a Hub reference"),
])
def test_malformed_refs_say_what_the_form_is(text, says):
    with pytest.raises(ValueError, match="hf://owner/name") as error:
        parse_hub_ref(text)
    assert says in str(error.value)


# ----------------------------------------------------------------------------- fetch, offline

def test_fetch_serves_the_cached_weights_offline(cached):
    repo, snapshot = cached
    folder = fetch_hub_weights(f"hf://{REPO_ID}")
    assert folder == snapshot
    assert sorted(p.name for p in folder.iterdir()) == sorted(set(hub.HUB_FILES) & set(repo.files))
    assert same_images(folder)
    assert fetch_hub_weights(f"hf://{REPO_ID}@{repo.commit}") == snapshot
    assert fetch_hub_weights(HubRef(REPO_ID, "v1")) == snapshot


def test_a_repo_not_in_the_cache_offline(cached):
    with pytest.raises(WeightsError) as error:
        fetch_hub_weights("hf://nobody/nothing@v3")
    message = str(error.value)
    assert "hf://nobody/nothing@v3" in message and "not in the Hub cache" in message
    assert "HF_HUB_OFFLINE" in message


def test_a_revision_not_in_the_cache_offline(cached):
    with pytest.raises(WeightsError) as error:
        fetch_hub_weights(f"hf://{REPO_ID}@v2")
    message = str(error.value)
    assert f"holds {REPO_ID} but not revision v2" in message
    assert "cached: main, v1" in message and "HF_HUB_OFFLINE" in message


def test_a_malformed_ref_is_a_weights_error_too(cached):
    with pytest.raises(WeightsError, match="hf://owner/name"):
        fetch_hub_weights("hf://digits")


def replace_blob(snapshot: Path, name: str, data: bytes | None) -> Path:
    blob = (snapshot / name).resolve()
    blob.unlink()
    if data is not None:
        blob.write_bytes(data)
    return blob


@pytest.mark.parametrize("name, data, says", [
    ("model.safetensors", b"\x00" * 100, "model.safetensors in the cache is corrupt"),
    ("config.json", b"{not json", "not valid JSON"),
    ("config.json", b'{"architecture": "SomethingElse"}', "expected architecture"),
    ("model.safetensors", None, "misses files"),  # a deleted blob: the tree listing knows
], ids=["weights-zeroed", "config-not-json", "config-other-architecture", "weights-blob-deleted"])
def test_corrupt_or_missing_cached_files(cached, name, data, says):
    _, snapshot = cached
    replace_blob(snapshot, name, data)
    with pytest.raises(WeightsError, match=says) as error:
        fetch_hub_weights(f"hf://{REPO_ID}")
    assert f"hf://{REPO_ID}@main" in str(error.value)


def test_other_valid_weights_under_the_blob_name_are_caught(cached, tmp_path):
    """A file that loads but is not the one the cache names (by sha256)."""
    from safetensors import safe_open
    from safetensors.torch import save

    _, snapshot = cached
    with safe_open(str(SHIPPED / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    name = next(n for n, t in tensors.items() if t.is_floating_point())
    tensors[name] = tensors[name] * 1.5
    other = tmp_path / "other"
    shutil.copytree(SHIPPED, other)
    (other / "model.safetensors").write_bytes(save(tensors, metadata=metadata))
    load_generator(other)   # valid weights on their own
    replace_blob(snapshot, "model.safetensors", (other / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="corrupt"):
        fetch_hub_weights(f"hf://{REPO_ID}")


def test_a_repo_without_weights(hub_env):
    repo = shipped_repo()
    del repo.files["model.safetensors"]
    write_hub_cache(hub_env, repo, allow=hub.HUB_FILES)
    with pytest.raises(WeightsError, match=f"hf://{REPO_ID}@main: the repo has no model.safetensors"):
        fetch_hub_weights(f"hf://{REPO_ID}")


# ----------------------------------------------------------------------------- fetch, loopback Hub

def tree(folder: Path) -> dict[str, str]:
    """Every path under `folder` -> 'link <target>' or the file's bytes digest."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[key] = f"link {os.readlink(path)}"
        elif path.is_file():
            found[key] = f"file {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


def test_the_hand_built_cache_is_the_layout_huggingface_hub_writes(online, tmp_path):
    repo = shipped_repo()
    with LoopbackHub([repo]) as loopback:
        folder = fetch_hub_weights(f"hf://{REPO_ID}", cache_dir=tmp_path / "real", endpoint=loopback.url)
    assert same_images(folder)
    assert not any("samples.png" in p or ".gitattributes" in p for p in loopback.paths)
    write_hub_cache(tmp_path / "hand", repo, allow=hub.HUB_FILES)
    written = {k: v for k, v in tree(tmp_path / "real").items()
               if not k.startswith(".locks") and k != "CACHEDIR.TAG"}
    assert written == tree(tmp_path / "hand")


def test_a_repo_the_hub_does_not_have(online, tmp_path):
    with LoopbackHub([shipped_repo()]) as loopback:
        with pytest.raises(WeightsError, match="hf://nobody/nothing@main: no model repo nobody/nothing"):
            fetch_hub_weights("hf://nobody/nothing", cache_dir=tmp_path, endpoint=loopback.url)


def test_a_revision_the_hub_does_not_have(online, tmp_path):
    with LoopbackHub([shipped_repo()]) as loopback:
        with pytest.raises(WeightsError, match=f"{REPO_ID} has no revision 'v9' on the Hub"):
            fetch_hub_weights(f"hf://{REPO_ID}@v9", cache_dir=tmp_path, endpoint=loopback.url)


# ----------------------------------------------------------------------------- push

def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


@pytest.fixture
def uploads(monkeypatch) -> list[dict]:
    """Stop a push right before the network: record what would be committed."""
    calls = []

    def record(folder: Path, **kwargs):
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        calls.append({"files": files, **kwargs})
        return "https://huggingface.co/recorded/commit/1"

    monkeypatch.setattr(hub, "upload_folder_to_hub", record)
    return calls


def test_push_commits_the_weights_and_the_card(uploads):
    url = push_weights_to_hub(SHIPPED, REPO_ID, "hf_token_for_tests")
    assert url == "https://huggingface.co/recorded/commit/1"
    (call,) = uploads
    assert {k: call[k] for k in ("repo_id", "token", "revision", "private")} == {
        "repo_id": REPO_ID, "token": "hf_token_for_tests", "revision": "main", "private": None}
    assert sorted(call["files"]) == ["README.md", "config.json", "directions.json", "encoder.safetensors",
                                     "metrics.json", "model.safetensors", "timeline.safetensors", "training.json"]
    for name in set(call["files"]) - {"README.md"}:
        assert call["files"][name] == (SHIPPED / name).read_bytes(), name
    assert call["files"]["README.md"].decode() == hub_model_card(SHIPPED, repo_id=REPO_ID)


def test_the_card_metadata(tmp_path):
    import json

    card = hub_model_card(SHIPPED, repo_id=REPO_ID)
    meta = front_matter(card)
    assert meta["library_name"] == "digitgan" and meta["license"] == "mit"
    assert meta["datasets"] == ["mnist"] and {"gan", "mnist"} <= set(meta["tags"])
    metrics = json.loads((SHIPPED / "metrics.json").read_text())
    (entry,) = meta["model-index"]
    assert entry["name"] == REPO_ID
    reported = {m["type"]: m["value"] for m in entry["results"][0]["metrics"]}
    assert reported == {key: metrics[key] for key in hub.CARD_METRICS}
    training = json.loads((SHIPPED / "training.json").read_text())
    assert f"```bash\n{training['command']}\n```" in card
    assert f'fetch_hub_weights("hf://{REPO_ID}")' in card
    # huggingface_hub reads the same metadata back
    parsed = hf.ModelCard(card).data
    assert parsed.library_name == "digitgan"
    assert {r.metric_type: r.metric_value for r in parsed.eval_results} == reported


def test_metrics_of_other_weights_stay_off_the_card(tmp_path):
    import json

    folder = Path(shutil.copytree(SHIPPED, tmp_path / "weights"))
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "weights_sha256": "000000000000"}))
    card = hub_model_card(folder, repo_id=REPO_ID, command="python train.py --steps 10")
    assert "model-index" not in front_matter(card)
    assert "measured other weights (000000000000" in card
    assert str(metrics["frechet_distance"]) not in card
    assert "python train.py --steps 10" in card


def test_push_refuses_bad_weights_and_bad_repo_ids_before_uploading(uploads, tmp_path):
    folder = Path(shutil.copytree(SHIPPED, tmp_path / "weights"))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        push_weights_to_hub(folder, REPO_ID, "t")
    with pytest.raises(ValueError, match="owner/name"):
        push_weights_to_hub(SHIPPED, "no-owner", "t")
    assert uploads == []
    assert filecmp.cmp(SHIPPED / "config.json", folder / "config.json", shallow=False)


def test_the_upload_step_calls_huggingface_hub_as_it_is_defined(monkeypatch, tmp_path):
    """upload_folder_to_hub's calls bind to the real HfApi signatures (a renamed or
    misspelt argument fails here), without sending anything."""
    calls, real = [], hf.HfApi

    class RecordingApi:
        def __init__(self, **kwargs):
            inspect.signature(real.__init__).bind(None, **kwargs)

        def create_repo(self, *args, **kwargs):
            calls.append(inspect.signature(real.create_repo).bind(None, *args, **kwargs))

        def upload_folder(self, *args, **kwargs):
            calls.append(inspect.signature(real.upload_folder).bind(None, *args, **kwargs))
            return hf.CommitInfo(commit_url="https://huggingface.co/x/y/commit/abc", commit_message="m",
                                 commit_description="", oid="abc")

    monkeypatch.setattr(hf, "HfApi", RecordingApi)
    url = hub.upload_folder_to_hub(tmp_path, repo_id=REPO_ID, token="t", revision="main",
                                   private=True, commit_message="weights")
    assert url == "https://huggingface.co/x/y/commit/abc"
    create, upload = calls
    assert create.arguments["repo_id"] == REPO_ID and create.arguments["exist_ok"] is True
    assert upload.arguments["folder_path"] == tmp_path and upload.arguments["repo_type"] == "model"


# ----------------------------------------------------------------------------- the app and the CLIs

def test_the_app_serves_a_hub_repo_and_names_it(cached, tmp_path):
    """--weights / DIGITGAN_WEIGHTS hf://...: served like a folder, named with its commit in
    the Model tab and in every image's provenance."""
    from PIL import Image

    from gan.files import OutputFolder
    from gan.serving.model_holder import ModelHolder
    from gan.serving.service import DigitService

    repo, snapshot = cached
    service = DigitService(ModelHolder(f"hf://{REPO_ID}@v1"), output=OutputFolder(tmp_path / "out"),
                           auto_reload_s=None)
    named = f"hf://{REPO_ID}@{repo.commit}"
    model = service.model()
    assert model.hub_ref == named and model.folder == snapshot
    with Image.open(service.generate(3, 42, 0.8)) as png:
        assert png.text["weights_source"] == named
        assert png.text["weights_sha256"] == model.fingerprint
    local = DigitService(ModelHolder(SHIPPED), output=OutputFolder(tmp_path / "local"), auto_reload_s=None)
    with Image.open(local.generate(3, 42, 0.8)) as png:
        assert "weights_source" not in png.text  # a local folder's images are as they were
    card = service.model_card()
    assert named in card.markdown and card.details["hub"] == named
    assert "unchanged" in service.reload()  # Reload asks the Hub (here: the cache) again


def test_a_missing_hub_repo_keeps_the_app_from_starting_with_the_reason(hub_env, capsys, monkeypatch):
    import app

    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: 1)
    assert app.main(["--weights", "hf://nobody/nothing"]) == 2
    err = capsys.readouterr().err
    assert "nobody/nothing" in err and "Traceback" not in err


def test_generate_cli_reads_a_hub_repo(cached, tmp_path):
    from PIL import Image

    from gan import generate as generate_cli

    repo, _ = cached
    out = tmp_path / "grid.png"
    assert generate_cli.main(["--weights", f"hf://{REPO_ID}", "--digits", "3", "--seeds", "0-3",
                              "--out", str(out)]) == 0
    with Image.open(out) as png:
        assert png.text["weights_source"] == f"hf://{REPO_ID}@{repo.commit}"


@pytest.mark.parametrize("command", ["evaluate", "find_directions"])
def test_commands_that_write_beside_the_weights_refuse_a_hub_repo(command, capsys):
    import importlib

    module = importlib.import_module(f"gan.{command}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--weights", f"hf://{REPO_ID}"])
    assert exit_info.value.code == 2 and "needs a local folder" in capsys.readouterr().err


def test_train_py_pushes_the_export_with_its_command(uploads, tmp_path, monkeypatch):
    import train as train_cli

    monkeypatch.setenv("HF_TOKEN", "hf_token_for_tests")
    args = ["--synthetic-size", "64", "--steps", "4", "--batch-size", "8", "--g-width", "8",
            "--d-width", "8", "--log-every", "2", "--sample-every", "4", "--ckpt-every", "4",
            "--metrics-every", "0", "--threads", "1", "--device", "cpu", "--no-progress",
            "--no-directions", "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export"),
            "--push-to-hub", REPO_ID]
    assert train_cli.main(args) == 0
    (call,) = uploads
    assert call["repo_id"] == REPO_ID and call["token"] == "hf_token_for_tests"
    assert call["files"]["model.safetensors"] == (tmp_path / "export" / "model.safetensors").read_bytes()
    assert "--push-to-hub digitgan/mnist-generator" in call["files"]["README.md"].decode()


def test_train_py_refuses_a_bad_repo_before_training(tmp_path, capsys):
    import train as train_cli

    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--synthetic-size", "64", "--run-dir", str(tmp_path / "run"), "--push-to-hub", "no-slash"])
    assert exit_info.value.code == 2 and "owner/name" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_train_tab_pushes_a_stopped_run(uploads, tmp_path):
    from gan.runs.manager import RunManager

    runs = tmp_path / "runs"
    run_dir = runs / "tiny"
    args = ["--synthetic-size", "64", "--steps", "4", "--batch-size", "8", "--g-width", "8",
            "--d-width", "8", "--metrics-every", "0", "--threads", "1", "--device", "cpu",
            "--no-progress", "--no-evaluate", "--run-dir", str(run_dir), "--export-dir", "none"]
    import train as train_cli

    assert train_cli.main(args) == 0
    manager = RunManager(runs)
    with pytest.raises(ValueError, match="owner/name"):
        manager.push("tiny", "no-slash", token="t")
    url = manager.push("tiny", REPO_ID, token="hf_token_for_tests")
    assert url.startswith("https://") and uploads[0]["token"] == "hf_token_for_tests"
    assert sorted(uploads[0]["files"]) == ["README.md", "config.json", "model.safetensors", "timeline.safetensors",
                                           "training.json"]  # the run's timeline goes along
    assert not any((runs / ".served").iterdir())  # the temporary export is gone


# ----------------------------------------------------------------------------- Space folders

@pytest.mark.parametrize("kind", ["zerogpu", "cpu"])
def test_a_space_folder_holds_what_the_hardware_runs_and_nothing_else(kind, tmp_path):
    from gan.space.folder import ZEROGPU_TORCH, build_space_folder

    out = build_space_folder(tmp_path / "space", kind=kind)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "app.py", "app_tabs", "gan", "requirements.txt", "train.py", "weights"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not any(part in f for f in files for part in ("__pycache__", "tests/", "benchmarks/", "gan/space"))
    assert load_generator(out / "weights").generate([3], [1]).shape == (1, 28, 28)
    front = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"
    assert front["python_version"] == "3.12"
    assert front["suggested_hardware"] == {"zerogpu": "zero-a10g", "cpu": "cpu-basic"}[kind]
    requirements = (out / "requirements.txt").read_text()
    torch_pin = next(line for line in requirements.splitlines() if line.startswith("torch=="))
    assert torch_pin.split("==")[1] in ZEROGPU_TORCH
    assert ("spaces==" in requirements) == (kind == "zerogpu")
    assert f"sdk_version: {front['sdk_version']}" in (out / "README.md").read_text()


def test_a_space_folder_can_serve_a_hub_reference(tmp_path):
    from gan.space.folder import WEIGHTS_REF_FILE, build_space_folder

    out = build_space_folder(tmp_path / "space", kind="zerogpu", weights=f"hf://{REPO_ID}@v1")
    assert not (out / "weights").exists()
    assert (out / WEIGHTS_REF_FILE).read_text().strip() == f"hf://{REPO_ID}@v1"
    assert f"hf://{REPO_ID}@v1" in (out / "README.md").read_text()


@pytest.mark.parametrize("weights, says", [("missing-folder", "does not exist"),
                                           ("hf://no-slash", "owner/name")])
def test_a_space_folder_that_could_not_work_is_refused(weights, says, tmp_path):
    from gan.space.folder import build_space_folder

    with pytest.raises(WeightsError, match=says):
        build_space_folder(tmp_path / "space", kind="zerogpu", weights=tmp_path / weights
                           if not weights.startswith("hf://") else weights)
    assert not (tmp_path / "space").exists() and not list(tmp_path.glob(".space-*"))


def test_a_space_folder_refuses_a_torch_zerogpu_does_not_run():
    from gan.space.folder import HARDWARE, pinned_requirements

    wrong = dataclasses.replace(HARDWARE["zerogpu"], torch="2.14.1")
    with pytest.raises(ValueError, match="ZeroGPU runs torch 2.8.0, 2.9.1, 2.10.0, 2.11.0"):
        pinned_requirements(wrong)
