"""The indexer's settings: the store's, with its secrets kept out of logs."""

from __future__ import annotations

from civicsight.services.indexer.settings import IndexerSettings


def test_settings_keep_the_es_url_secret() -> None:
    """Guards credentials in the Elasticsearch URL showing up in logs or dumps."""
    settings = IndexerSettings(es_url="https://user:pa55@es:9200")  # type: ignore[arg-type]
    assert "pa55" not in repr(settings) and "pa55" not in str(settings.model_dump())
