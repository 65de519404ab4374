"""Models from the Hugging Face hub, as transformers takes them: from the local cache when they
are there, downloaded (then cached) on first use when the hub can be reached, and never from the
network when `HF_HUB_OFFLINE=1` (tests and CI set it; the message then says how to fetch one).
The checks here read files or fetch one small file; they import no torch."""

from __future__ import annotations

import huggingface_hub
from huggingface_hub import constants as hub_constants

from trainer.errors import ModelNotCachedError


def hub_offline() -> bool:
    """Whether the hub may not be contacted: huggingface_hub's own reading of HF_HUB_OFFLINE."""
    return bool(hub_constants.HF_HUB_OFFLINE)


def not_cached_message(name: str) -> str:
    return (
        f"model {name} is not in the local Hugging Face cache (HF_HOME={hub_constants.HF_HOME}) and HF_HUB_OFFLINE=1 "
        f"forbids downloading it: unset HF_HUB_OFFLINE on a machine that reaches the hub, or download it there with "
        f"`hf download {name}` (`huggingface-cli download {name}` with huggingface_hub < 1.0) and copy the cache, "
        "or pass --model tiny or a local directory"
    )


def is_cached(name: str) -> bool:
    try:
        found = huggingface_hub.try_to_load_from_cache(repo_id=name, filename="config.json")
    except ValueError as error:  # not a valid repo id either
        raise ModelNotCachedError(f"model {name!r} is neither an existing directory nor a valid hub id") from error
    return isinstance(found, str)


def require_available(name: str) -> None:
    """The hub model can be loaded: it is cached, or (online) its config downloads now, so a
    wrong name or an unreachable hub fails before any job exists; the weights follow in set-up."""
    if is_cached(name):
        return
    if hub_offline():
        raise ModelNotCachedError(not_cached_message(name))
    try:
        huggingface_hub.hf_hub_download(repo_id=name, filename="config.json")
    except Exception as error:  # noqa: BLE001 - every way a download fails (no such repo, no network, auth) is one message
        raise ModelNotCachedError(
            f"model {name} is not cached and cannot be downloaded from {hub_constants.ENDPOINT} "
            f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); check the name, your network or "
            "HF_TOKEN, "
            "or set HF_HUB_OFFLINE=1 to use the cache only"
        ) from error
