"""Great Expectations, imported on first use (it takes seconds) and run offline: an ephemeral
context, in-memory stores, no analytics, no progress bars, nothing written to disk."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from ..errors import ContractError


@cache
def great_expectations() -> Any:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # read when GE is imported; must precede it
    try:
        import great_expectations as gx
    except ImportError as exc:
        raise ContractError(
            "the data contracts need Great Expectations, which is not installed: "
            "pip install 'receipt-ml-dataset-builder[contracts]', or build with --skip-contracts"
        ) from exc
    return gx


def ephemeral_context() -> Any:
    gx = great_expectations()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)
