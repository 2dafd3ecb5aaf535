"""`e3d2 push`: an output folder, its card and its reports, to the Hub."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from huggingface_hub import ModelCard

from .cards import CARD_INFO, render_model_card
from .models.policy.configuration_policy import VQVAE_SUBFOLDER
from .utils.errors import E3D2Error
from .utils.outputs import DEMONSTRATIONS_INFO, PREPARE_INFO

logger = logging.getLogger(__name__)

MODEL_TEMPLATES = {
    "e3d2_dance_vqvae": "vqvae",
    "e3d2_dance_policy": "policy",
    "e3d2_dance_reward": "reward",
}
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json")
REPORT_PATTERNS = ("*_report.json", "*_report.md", "*.png", "final_results.json")


def output_kind(path: str | Path) -> str:
    """What an output folder holds: a model type, `preferences`, or `clips` (a prepared dataset)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such output folder")
    if (path / "config.json").is_file():
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
        if model_type in MODEL_TEMPLATES:
            return model_type
        raise ValueError(f"{path}: holds a {model_type!r} model, not one of e3d2's")
    if (path / DEMONSTRATIONS_INFO).is_file():
        return "preferences"
    if (path / PREPARE_INFO).is_file():
        return "clips"
    raise ValueError(
        f"{path}: not an e3d2 output (no config.json, demonstrations.json or prepare.json)"
    )


def _model_card(path: Path, model_type: str, repo_id: str) -> ModelCard:
    """The folder's card re-rendered for `repo_id` from its card_info.json, else its README."""
    from transformers import AutoModel

    from . import models  # noqa: F401  (registers the model types with AutoModel)

    info_file = path / CARD_INFO
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        template = info.pop("template", MODEL_TEMPLATES[model_type])
        model = AutoModel.from_pretrained(str(path))
        return render_model_card(template, model, {**info, "repo_id": repo_id})
    if (path / "README.md").is_file():
        return ModelCard.load(path / "README.md")
    model = AutoModel.from_pretrained(str(path))
    return render_model_card(MODEL_TEMPLATES[model_type], model, {"repo_id": repo_id})


class HubError(E3D2Error):
    """The Hub refused or could not be reached: the user's token, endpoint or network."""


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """A Hub refusal (bad token, no write access, a bad repo id) or an unreachable endpoint
    as one `HubError` line naming the repo and the setting to check, not a traceback."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    try:
        yield
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        why = {
            401: "the token was refused (401): set HF_TOKEN to a valid token",
            403: "the token may not write there (403): use a token with write access",
            404: "no such namespace (404)",
        }.get(status, f"the Hub answered {status}")
        raise HubError(f"{repo_id}: {why} ({constants.ENDPOINT})") from None
    except HFValidationError as exc:
        raise HubError(f"{repo_id}: not a valid repo id ({' '.join(str(exc).split())})") from None
    except Exception as exc:
        # the Hub client's HTTP library (httpx, or its fork httpx2) names its network errors so
        unreachable = any(c.__name__ == "TransportError" for c in type(exc).__mro__)
        if not (unreachable or isinstance(exc, (OfflineModeIsEnabled, ConnectionError))):
            raise
        raise HubError(
            f"{repo_id}: could not reach the Hub at {constants.ENDPOINT} "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); check HF_ENDPOINT, "
            "HF_HUB_OFFLINE and the network"
        ) from None


def push_output(
    path: str | Path,
    repo_id: str,
    private: bool | None = None,
    vqvae: str | Path | None = None,
    token: str | None = None,
) -> str:
    """Upload an e3d2 output folder to the Hub with its card; returns the repo URL.

    Models go up in one commit with their card and reports (no checkpoints,
    logs or token caches); a policy takes its VQ-VAE along in `vqvae/`, so the
    repo alone can dance. A preference dataset goes up as its three configs; a
    prepared clip dataset with `push_to_hub`.
    """
    path = Path(path)
    kind = output_kind(path)
    with hub_errors(repo_id):
        return _push(path, kind, repo_id, private, vqvae, token)


def _push(path: Path, kind: str, repo_id: str, private, vqvae, token) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    if kind == "preferences":
        from .preferences import push_preferences_to_hub

        return push_preferences_to_hub(path, repo_id, private, token)
    if kind == "clips":
        from .data.schema import load_clip_dataset

        load_clip_dataset(path).push_to_hub(repo_id, private=private, token=token)
        return f"datasets/{repo_id}"
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(
            path_in_repo="README.md", path_or_fileobj=str(_model_card(path, kind, repo_id)).encode()
        )
    ]
    files = [path / f for f in MODEL_FILES if (path / f).is_file()]
    files += sorted({f for pattern in REPORT_PATTERNS for f in path.glob(pattern)})
    operations += [CommitOperationAdd(path_in_repo=f.name, path_or_fileobj=str(f)) for f in files]
    if kind == "e3d2_dance_policy":
        if vqvae is None and (path / VQVAE_SUBFOLDER).is_dir():
            vqvae = path / VQVAE_SUBFOLDER  # the VQ-VAE the policy folder already carries
        vqvae = vqvae or json.loads((path / "config.json").read_text()).get("vqvae_name_or_path")
        if vqvae and Path(vqvae).is_dir():
            from .models.folders import vqvae_files

            operations += [
                CommitOperationAdd(
                    path_in_repo=f"{VQVAE_SUBFOLDER}/{f.name}", path_or_fileobj=str(f)
                )
                for f in vqvae_files(Path(vqvae))
            ]
        else:
            logger.warning(
                "%s: its VQ-VAE (%s) is not a local folder, the repo will not carry one",
                path,
                vqvae,
            )
    api.create_commit(repo_id, operations=operations, commit_message=f"Upload {kind} from e3d2-hf")
    return str(url)
