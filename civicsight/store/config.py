"""Which store a service opens: one place, so the indexer and the API always agree."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from civicsight.settings import HubSettings
from civicsight.store import TrackStore

Backend = Literal["sqlite", "elasticsearch"]


class StoreSettings(HubSettings):
    """The store settings every service that opens the track store shares."""

    store_backend: Backend = Field(
        "sqlite", description="track store: embedded SQLite or an Elasticsearch 8/9 cluster"
    )
    es_url: SecretStr | None = Field(
        None, description="Elasticsearch URL (may hold credentials; never logged)"
    )
    es_prefix: str = Field(
        "civicsight", pattern=r"^[a-z][a-z0-9-]{0,40}$", description="Elasticsearch index prefix"
    )
    es_vector_dims: int = Field(
        256, ge=8, le=2048, description="appearance vector size in Elasticsearch"
    )
    es_ca_certs: Path | None = Field(
        None, description="CA bundle that signs the Elasticsearch server's TLS certificate"
    )
    store_path: Path | None = Field(None, description="SQLite file (default DATA_DIR/tracks.db)")

    @property
    def sqlite_path(self) -> Path:
        return self.store_path or self.data_dir / "tracks.db"

    def track_store(self, writer: bool = False) -> TrackStore:
        """The configured store, not yet opened; ``writer``: the indexer's, which keeps
        the saved search index."""
        return build_store(
            self.store_backend,
            self.sqlite_path,
            self.es_url,
            self.es_prefix,
            self.es_vector_dims,
            self.es_ca_certs,
            writer,
        )

    def describe_store(self) -> str:
        """The store in words, safe to log."""
        return describe(self.store_backend, self.sqlite_path, self.es_prefix)


def build_store(
    backend: Backend,
    sqlite_path: Path,
    es_url: SecretStr | None = None,
    es_prefix: str = "civicsight",
    es_vector_dims: int = 256,
    es_ca_certs: Path | None = None,
    writer: bool = False,
) -> TrackStore:
    """The configured store, not yet opened. The Elasticsearch client is imported only
    when that backend is chosen. ``es_url`` may hold credentials: it is never logged."""
    if backend == "elasticsearch":
        if es_url is None:
            raise ValueError("the elasticsearch store needs CIVICSIGHT_ES_URL")
        from civicsight.store.elastic import ElasticTrackStore

        return ElasticTrackStore(
            es_url.get_secret_value(),
            prefix=es_prefix,
            vector_dims=es_vector_dims,
            ca_certs=str(es_ca_certs) if es_ca_certs else None,
        )
    from civicsight.store.sqlite import SqliteTrackStore

    return SqliteTrackStore(sqlite_path, writer=writer)


def describe(backend: Backend, sqlite_path: Path, es_prefix: str) -> str:
    """A log-safe description of the store (no URL, so no credentials)."""
    return (
        f"elasticsearch indices {es_prefix}-*" if backend == "elasticsearch" else str(sqlite_path)
    )
