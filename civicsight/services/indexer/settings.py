"""The indexer's settings: the track store's (shared with the API) and how often the
retention policy is enforced."""

from __future__ import annotations

from pydantic import Field

from civicsight.store.config import StoreSettings


class IndexerSettings(StoreSettings):
    purge_every_s: float = Field(
        300.0, gt=0, description="how often the retention policy is enforced on the store"
    )
