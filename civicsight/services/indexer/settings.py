"""The indexer's settings: the track store's (shared with the API), how often the
retention policy is enforced, and how plate sightings are matched into journeys."""

from __future__ import annotations

from pydantic import Field

from civicsight.pseudonyms import OVERLAP_S
from civicsight.store.config import StoreSettings


class IndexerSettings(StoreSettings):
    purge_every_s: float = Field(
        300.0, gt=0, description="how often the retention policy is enforced on the store"
    )
    plate_journey_max_s: float = Field(
        1800.0,
        gt=0,
        le=OVERLAP_S,
        description="longest plate journey between two cameras: a later sighting starts a "
        "new trip (at most the pseudonym keys' one-hour overlap)",
    )
    plate_journey_lateness_s: float = Field(
        30.0,
        ge=0,
        le=600,
        description="capture seconds plate sightings wait to be matched in time order",
    )
