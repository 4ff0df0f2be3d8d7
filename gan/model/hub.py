"""Generator weights on the Hugging Face Hub: fetch a model repo, publish a weights folder.

A Hub reference reads `hf://owner/name` or `hf://owner/name@revision` (a branch, a tag or a
commit hash; `main` when left out). `fetch_hub_weights` brings only the weights' own files
into the huggingface_hub cache (`HF_HUB_CACHE`, works offline from it under
`HF_HUB_OFFLINE=1`) and validates them with `load_generator`, exactly as a local folder;
every failure is a `WeightsError` that names the repo and the revision.
`push_weights_to_hub` uploads a weights folder with a generated model card (README.md).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import JsonFileError, file_sha256, read_json
from .card import measured_lines, measured_other_weights, model_card, training_lines
from .weights import (
    CONFIG_FILE,
    DIRECTIONS_FILE,
    ENCODER_FILE,
    METRICS_FILE,
    TIMELINE_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
    WeightsError,
    load_generator,
)

HUB_SCHEME = "hf://"
DEFAULT_REVISION = "main"
# What a DigitGAN model repo holds; nothing else is fetched or pushed.
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE)
SIDE_FILES = (DIRECTIONS_FILE, METRICS_FILE, TRAINING_FILE, ENCODER_FILE, TIMELINE_FILE)
CARD_NAME = "README.md"
HUB_FILES = (*REQUIRED_FILES, *SIDE_FILES, CARD_NAME)

_NAME_CHARS = "letters, digits, '-', '_' and '.'"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,96}")
_REVISION = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REF_FORM = "hf://owner/name or hf://owner/name@revision (a branch, tag or commit hash)"


@dataclass(frozen=True)
class HubRef:
    repo_id: str     # "owner/name"
    revision: str    # branch, tag or commit hash

    def __str__(self) -> str:
        return f"{HUB_SCHEME}{self.repo_id}@{self.revision}"


def _check_name(part: str, what: str, text: str) -> None:
    if not _NAME.fullmatch(part):
        raise ValueError(f"{text!r}: the {what} must be 1 to 96 {_NAME_CHARS}; expected {_REF_FORM}")
    if part[0] in "-." or part[-1] in "-." or "--" in part or ".." in part:
        raise ValueError(f"{text!r}: the {what} may not start or end with '-' or '.', nor hold "
                         f"'--' or '..'; expected {_REF_FORM}")


def check_repo_id(repo_id: str, text: str | None = None) -> str:
    """`repo_id` if it is a valid "owner/name" model repo id; ValueError saying why if not."""
    text = repo_id if text is None else text
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise ValueError(f"{text!r}: the repo must be owner/name (one '/'); expected {_REF_FORM}")
    _check_name(parts[0], "owner", text)
    _check_name(parts[1], "repo name", text)
    if parts[1].endswith(".git"):
        raise ValueError(f"{text!r}: the repo name may not end with '.git'; expected {_REF_FORM}")
    return repo_id


def parse_hub_ref(text: str) -> HubRef:
    """`hf://owner/name[@revision]` -> HubRef; ValueError naming the allowed form if malformed."""
    if not isinstance(text, str) or not text.startswith(HUB_SCHEME):
        raise ValueError(f"{text!r} is not a Hub reference: expected {_REF_FORM}")
    body = text[len(HUB_SCHEME):]
    repo_id, at, revision = body.partition("@")
    if at and not revision:
        raise ValueError(f"{text!r}: nothing after '@'; expected {_REF_FORM}")
    revision = revision if at else DEFAULT_REVISION
    check_repo_id(repo_id, text)
    if (len(revision) > 255 or not _REVISION.fullmatch(revision) or ".." in revision
            or revision.endswith(".lock")):
        raise ValueError(f"{text!r}: the revision must be {_NAME_CHARS} (with '/' between parts, "
                         f"as in refs/pr/1); expected {_REF_FORM}")
    return HubRef(repo_id, revision)


# ----------------------------------------------------------------------------- fetch

def _hub():
    try:  # the submodules by name: the package loads its attributes lazily
        import huggingface_hub.constants
        import huggingface_hub.errors
        import huggingface_hub.file_download  # noqa: F401
    except ImportError as exc:  # gradio depends on it, so this is a trimmed install
        raise WeightsError("Hub weights need the huggingface_hub package: "
                           "pip install huggingface_hub") from exc
    return huggingface_hub


def _not_cached_reason(ref: HubRef, cache_dir: Path) -> str:
    """Why an offline fetch found nothing: the repo, or only this revision, is not cached."""
    hub = _hub()
    folder = cache_dir / hub.file_download.repo_folder_name(repo_id=ref.repo_id, repo_type="model")
    if not folder.is_dir():
        return f"{ref.repo_id} is not in the Hub cache ({cache_dir})"
    refs = (folder / "refs").rglob("*")
    cached = sorted(p.relative_to(folder / "refs").as_posix() for p in refs if p.is_file())
    return (f"the Hub cache ({cache_dir}) holds {ref.repo_id} but not revision {ref.revision} "
            f"(cached: {', '.join(cached) or 'nothing'})")


def _download(ref: HubRef, *, cache_dir: Path, token: str | None, endpoint: str | None) -> Path:
    hub = _hub()
    errors, where, offline = hub.errors, str(ref), hub.constants.is_offline_mode()
    try:
        return Path(hub.snapshot_download(
            ref.repo_id, repo_type="model", revision=ref.revision, cache_dir=cache_dir,
            allow_patterns=list(HUB_FILES), token=token, endpoint=endpoint))
    except errors.RevisionNotFoundError as exc:
        raise WeightsError(f"{where}: {ref.repo_id} has no revision {ref.revision!r} on the Hub") from exc
    except errors.GatedRepoError as exc:
        raise WeightsError(f"{where}: {ref.repo_id} is gated: accept its terms on the Hub and "
                           "log in (hf auth login, or set HF_TOKEN)") from exc
    except errors.RepositoryNotFoundError as exc:
        raise WeightsError(f"{where}: no model repo {ref.repo_id} on the Hub (or it is private: "
                           "log in with hf auth login, or set HF_TOKEN)") from exc
    except errors.IncompleteSnapshotError as exc:
        raise WeightsError(f"{where}: the cached copy misses files and the Hub cannot be reached "
                           f"to complete it ({exc})") from exc
    except errors.LocalEntryNotFoundError as exc:
        why = _not_cached_reason(ref, cache_dir)
        how = ("HF_HUB_OFFLINE is set: unset it to download, or fetch it once online"
               if offline else "and the Hub could not be reached")
        raise WeightsError(f"{where}: {why}; {how}") from exc
    except errors.HfHubHTTPError as exc:
        raise WeightsError(f"{where}: the Hub answered an error ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{where}: could not fetch the weights ({type(exc).__name__}: {exc})") from exc


def _check_files(folder: Path, ref: HubRef) -> None:
    """Both weights files are there, and each safetensors file still hashes to its blob's name
    (the cache names a large file's blob by its sha256), so damage on disk is caught even
    where the file still parses."""
    for name in REQUIRED_FILES:
        if (folder / name).is_symlink() and not (folder / name).exists():
            raise WeightsError(f"{ref}: {name} is missing from the cache ({folder / name} points at "
                               "a deleted blob); delete the snapshot folder and fetch again")
        if not (folder / name).is_file():
            raise WeightsError(f"{ref}: the repo has no {name}; a DigitGAN model repo holds "
                               f"{' and '.join(REQUIRED_FILES)}")
    for path in sorted(folder.glob("*.safetensors")):
        blob = path.resolve()
        if _SHA256.fullmatch(blob.name) and file_sha256(blob) != blob.name:
            raise WeightsError(f"{ref}: {path.name} in the cache is corrupt (its sha256 is not "
                               f"{blob.name[:12]}...); delete {blob} and fetch again")


def fetch_hub_weights(ref: str | HubRef, *, cache_dir: str | Path | None = None,
                      token: str | None = None, endpoint: str | None = None) -> Path:
    """The validated local weights folder for a Hub reference (see the module docstring).

    `cache_dir` defaults to huggingface_hub's (HF_HUB_CACHE), `token` to the logged-in one,
    `endpoint` to HF_ENDPOINT. Raises WeightsError naming the repo and revision for a
    missing repo, revision or file, a cache that cannot serve offline, or corrupt weights.
    """
    if not isinstance(ref, HubRef):
        try:
            ref = parse_hub_ref(ref)
        except ValueError as exc:
            raise WeightsError(str(exc)) from exc
    cache = Path(cache_dir) if cache_dir is not None else Path(_hub().constants.HF_HUB_CACHE)
    folder = _download(ref, cache_dir=cache, token=token, endpoint=endpoint)
    _check_files(folder, ref)
    try:
        load_generator(folder)
    except WeightsError as exc:
        raise WeightsError(f"{ref}: {exc}") from exc
    return folder


def is_hub_ref(source: object) -> bool:
    return isinstance(source, str) and source.startswith(HUB_SCHEME)


def resolve_weights(source: str | Path) -> tuple[Path, str | None]:
    """A weights source as `--weights` and DIGITGAN_WEIGHTS take it -> (local folder, where it
    came from): a folder is itself (None); `hf://owner/name[@revision]` is fetched and
    validated, and named with the commit it resolved to (`hf://owner/name@<commit>`)."""
    if not is_hub_ref(source):
        return Path(source), None
    ref = source if isinstance(source, HubRef) else None
    try:
        ref = ref or parse_hub_ref(str(source))
    except ValueError as exc:
        raise WeightsError(str(exc)) from exc
    folder = fetch_hub_weights(ref)
    return folder, f"{HUB_SCHEME}{ref.repo_id}@{folder.name}"  # snapshots/<commit>


# ----------------------------------------------------------------------------- push

# The metrics that describe the generator go into the card's model-index.
CARD_METRICS = {"class_accuracy": "Class accuracy (the classifier sees the asked-for digit)",
                "class_accuracy_min_digit": "Class accuracy, worst digit",
                "frechet_distance": "Frechet distance in classifier-feature space",
                "coverage": "Coverage of the real test digits"}
CARD_TAGS = ["gan", "conditional-gan", "mnist", "image-generation", "pytorch", "safetensors"]
# What each side file is, in the error that says it is broken.
_SIDE_FILE_NAMES = {CONFIG_FILE: "the model config", TRAINING_FILE: "the training record",
                    METRICS_FILE: "the evaluation report"}


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object beside the weights ({} when the file is not there); WeightsError if broken."""
    try:
        return read_json(path, what=_SIDE_FILE_NAMES.get(path.name, "the file"), missing={})
    except JsonFileError as exc:
        raise WeightsError(str(exc)) from exc


def _front_matter(repo_id: str, metrics: dict[str, Any], license: str) -> str:
    hub = _hub()
    results = [hub.EvalResult(task_type="unconditional-image-generation",
                              task_name="Class-conditional digit generation",
                              dataset_type="mnist", dataset_name="MNIST", dataset_split="test",
                              metric_type=key, metric_name=name, metric_value=metrics[key])
               for key, name in CARD_METRICS.items() if isinstance(metrics.get(key), (int, float))]
    data = hub.ModelCardData(library_name="digitgan", license=license, tags=CARD_TAGS,
                             datasets=["mnist"], model_name=repo_id, eval_results=results or None)
    return data.to_yaml()


def hub_model_card(weights_dir: str | Path, *, repo_id: str, command: str | None = None,
                   license: str = "mit") -> str:
    """README.md for the model repo: YAML front matter (library, tags, dataset, license, the
    measured metrics as model-index), then how to use the weights and how they were made.
    `command` is the training command; training.json's when left out. metrics.json's figures
    are left out when it measured other weights."""
    weights_dir = Path(weights_dir)
    check_repo_id(repo_id)
    config, training = _read_json(weights_dir / CONFIG_FILE), _read_json(weights_dir / TRAINING_FILE)
    metrics, sha256 = _read_json(weights_dir / METRICS_FILE), file_sha256(weights_dir / WEIGHTS_FILE)
    indexed = metrics if measured_other_weights(metrics, sha256) is None else {}
    shape = ", ".join(f"{key} {config[key]}" for key in ("z_dim", "embed_dim", "g_width") if key in config)
    present = [name for name in (*REQUIRED_FILES, *SIDE_FILES) if (weights_dir / name).is_file()]
    sections = [
        (None, [f"A class-conditional GAN generator for 28x28 MNIST digits ({shape}): a digit and a "
                "seed give one image. The weights are `config.json` + `model.safetensors`, loaded "
                "strictly and never unpickled."]),
        ("Use", ["```python", "from gan import load_generator", "from gan.model.hub import fetch_hub_weights", "",
                 f'generator = load_generator(fetch_hub_weights("{HUB_SCHEME}{repo_id}"))',
                 "images = generator.generate([3, 3, 8], [0, 1, 42])  # uint8 (3, 28, 28)", "```"]),
        ("Measured (metrics.json)", measured_lines(metrics, sha256)),
        ("Training", training_lines(training, command)),
        ("Files", [f"- `{name}`" for name in present])]
    return model_card(sections, title=f"DigitGAN generator: {repo_id}",
                      front_matter=_front_matter(repo_id, indexed, license))


def upload_folder_to_hub(folder: Path, *, repo_id: str, token: str | None, revision: str,
                         private: bool | None, commit_message: str) -> str:
    """The network step of a push, alone: make the repo if needed, commit `folder` to it.
    Returns the commit URL."""
    api = _hub().HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=folder,
                             revision=revision, commit_message=commit_message)
    return str(info.commit_url)


def push_weights_to_hub(weights_dir: str | Path, repo_id: str, token: str | None = None, *,
                        revision: str = DEFAULT_REVISION, private: bool | None = None,
                        command: str | None = None, commit_message: str | None = None,
                        license: str = "mit") -> str:
    """Upload a weights folder, validated first, with its model card to `repo_id`.

    Only a model repo's files go up: config.json, model.safetensors, the side files there
    are, and the generated README.md. `token` None: huggingface_hub's own (HF_TOKEN or
    `hf auth login`). Returns the commit URL.
    """
    weights_dir = Path(weights_dir)
    check_repo_id(repo_id)
    load_generator(weights_dir)   # WeightsError, saying what is wrong, before anything is sent
    card = hub_model_card(weights_dir, repo_id=repo_id, command=command, license=license)
    with tempfile.TemporaryDirectory(prefix="digitgan-push-") as staging:
        staging = Path(staging)
        for name in (*REQUIRED_FILES, *SIDE_FILES):
            if (weights_dir / name).is_file():
                shutil.copy2(weights_dir / name, staging / name)
        (staging / CARD_NAME).write_text(card)
        message = commit_message or f"DigitGAN weights from {weights_dir.resolve().name}/"
        return upload_folder_to_hub(staging, repo_id=repo_id, token=token, revision=revision,
                                    private=private, commit_message=message)
