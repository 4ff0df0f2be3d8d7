"""Hub weights (gan/model/hub.py) without the network: a huggingface_hub cache filled by hand in
the layout the library writes (tests/hub_standin.py), HF_HUB_OFFLINE=1, and a guard that
refuses any connection off this machine. The few online cases talk to a loopback Hub."""
from __future__ import annotations

import filecmp
import hashlib
import inspect
import os
import shutil
from pathlib import Path

import pytest
import torch

hf = pytest.importorskip("huggingface_hub")
import huggingface_hub.constants  # noqa: E402  (loaded lazily otherwise)
yaml = pytest.importorskip("yaml")

from gan import WeightsError, load_generator  # noqa: E402
from gan.model import hub  # noqa: E402
from gan.model.hub import HubRef, fetch_hub_weights, hub_model_card, parse_hub_ref, push_weights_to_hub  # noqa: E402
from hub_standin import HubRepo, LoopbackHub, write_hub_cache  # noqa: E402
from loopback_guard import block_non_loopback  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "weights"
REPO_ID = "digitgan/mnist-generator"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture(autouse=True)
def no_network():
    blocked: list[str] = []
    undo = block_non_loopback(blocked.append)
    yield
    undo()
    assert blocked == [], f"tried to reach {blocked}"


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
    assert sorted(call["files"]) == ["README.md", "config.json", "directions.json", "metrics.json",
                                     "model.safetensors", "training.json"]
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
