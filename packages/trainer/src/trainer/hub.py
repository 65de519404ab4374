"""Is a hub model in the local Hugging Face cache? Answered from files, without torch or a
download (there is no hub access at run time)."""

from __future__ import annotations

import huggingface_hub
from huggingface_hub import constants as hub_constants

from .errors import ModelNotCachedError


def not_cached_message(name: str) -> str:
    return (
        f"model {name} is not in the local Hugging Face cache (HF_HOME={hub_constants.HF_HOME}); "
        f"download it on a machine with internet with `hf download {name}` "
        f"(`huggingface-cli download {name}` with huggingface_hub < 1.0) and copy the cache, "
        "or pass --model tiny or a local directory"
    )


def require_cached(name: str) -> None:
    try:
        found = huggingface_hub.try_to_load_from_cache(repo_id=name, filename="config.json")
    except ValueError as error:  # not a valid repo id either
        raise ModelNotCachedError(
            f"model {name!r} is neither an existing directory nor a valid hub id"
        ) from error
    if not isinstance(found, str):
        raise ModelNotCachedError(not_cached_message(name))
