"""Grafana's provisioning files (dashboards/provisioning/): every secret comes from an
environment variable, every data source a dashboard names is provisioned."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from civicsight.dashboards.build import ROOT
from civicsight.dashboards.queries import targets

SECRET_KEYS = {"basicAuthPassword", "bearerToken", "password", "apiKeyValue", "token"}


def datasources() -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "provisioning/datasources/civicsight.yaml").read_text())
    return doc["datasources"]  # type: ignore[no-any-return]


def test_secrets_and_addresses_are_environment_variables() -> None:
    """Guards a token, a password or a URL with credentials committed in the YAML."""
    for source in datasources():
        for key, value in (source.get("secureJsonData") or {}).items():
            assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", value), (source["uid"], key)
        assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", source["url"]), source["uid"]
        for key in SECRET_KEYS & set(source.get("jsonData") or {}):
            raise AssertionError(f"{source['uid']}: secret {key} in jsonData")
        if source.get("basicAuth"):
            assert source["basicAuthUser"].startswith("${")


def test_every_data_source_a_dashboard_reads_is_provisioned() -> None:
    """Guards a dashboard naming a data source uid nobody provisions (every panel on it
    says 'data source not found')."""
    provisioned = {s["uid"]: s["type"] for s in datasources()}
    for path in sorted((ROOT / "build").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for target in targets(dashboard):
            uid, kind = target.datasource["uid"], target.datasource["type"]
            if uid == "${datasource}":  # the Operations dashboard's variable
                assert kind == "prometheus" and "prometheus" in provisioned.values()
            else:
                assert provisioned.get(uid) == kind, (path.name, target.panel)


def test_the_dashboards_provider_reads_the_build_folder_read_only() -> None:
    doc = yaml.safe_load((ROOT / "provisioning/dashboards/civicsight.yaml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert provider["options"]["path"] == "${CIVICSIGHT_GRAFANA_DASHBOARDS}"
