"""Where the dashboards read from, said once: the data sources (uids, Elasticsearch indices,
the hub's traffic routes and their columns) and Grafana's provisioning files for them.

Secrets never appear here: provisioning names environment variables that Grafana
expands when it starts (``${VAR}``), set in Grafana's environment:

- ``CIVICSIGHT_GRAFANA_PROMETHEUS_URL``: the Prometheus scraping the hub
  (``civicsight up --prometheus`` prints it);
- ``CIVICSIGHT_GRAFANA_ES_URL``, ``CIVICSIGHT_GRAFANA_ES_USER``,
  ``CIVICSIGHT_GRAFANA_ES_PASSWORD``: the Elasticsearch store and a read-only user of the
  ``civicsight-traffic-*`` indices;
- ``CIVICSIGHT_GRAFANA_HUB_URL``, ``CIVICSIGHT_GRAFANA_HUB_TOKEN``: the hub's API and a
  ``traffic_analyst`` bearer token (``civicsight token issue --role traffic_analyst``);
- ``CIVICSIGHT_GRAFANA_DASHBOARDS``: the folder holding ``dashboards/build``.

Pure: documents, no I/O.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataSourceRef

from civicsight.dashboards.infinity import PLUGIN as INFINITY
from civicsight.traffic_tables import COLUMNS

PROMETHEUS_UID = "civicsight-prometheus"
HUB_API_UID = "civicsight-hub-api"
FOLDER = "CivicSight"
FOLDER_UID = "civicsight"

ES_KINDS = ("cameras", "counts", "zones", "turns", "speeds")
"""The store's traffic indices (``civicsight/store/templates/template-traffic-*.json``)."""


def es_index(kind: str) -> str:
    return f"civicsight-traffic-{kind}"


def es_uid(kind: str) -> str:
    """Grafana binds an Elasticsearch data source to one index: one data source each."""
    return f"civicsight-es-traffic-{kind}"


def es_ref(kind: str) -> DataSourceRef:
    if kind not in ES_KINDS:
        raise ValueError(f"no Elasticsearch traffic index {kind!r}")
    return DataSourceRef(type_val="elasticsearch", uid=es_uid(kind))


PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
"""The Operations dashboard's Prometheus: its ``datasource`` variable (any Prometheus data
source; the provisioned one is the default)."""
HUB_API = DataSourceRef(type_val=INFINITY, uid=HUB_API_UID)

TRAFFIC_ROUTES: dict[str, tuple[str, ...]] = {str(k): v for k, v in COLUMNS.items()}
"""``GET /api/traffic/<route>``: the columns of its ``rows`` (the traffic API's contract)."""
TRAFFIC_PARAMS = frozenset({"since", "until", "camera", "cls", "format"})


def datasources_provisioning() -> dict[str, object]:
    """``provisioning/datasources/civicsight.yaml``."""
    es = [
        {
            "name": f"CivicSight ES {kind}",
            "type": "elasticsearch",
            "uid": es_uid(kind),
            "access": "proxy",
            "url": "${CIVICSIGHT_GRAFANA_ES_URL}",
            "basicAuth": True,
            "basicAuthUser": "${CIVICSIGHT_GRAFANA_ES_USER}",
            "secureJsonData": {"basicAuthPassword": "${CIVICSIGHT_GRAFANA_ES_PASSWORD}"},
            "jsonData": {"index": es_index(kind), "timeField": "bin_start"},
            "editable": False,
        }
        for kind in ES_KINDS
    ]  # fmt: skip
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "CivicSight Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": "${CIVICSIGHT_GRAFANA_PROMETHEUS_URL}",
                "isDefault": True,
                "jsonData": {"timeInterval": "15s"},
                "editable": False,
            },
            *es,
            {
                "name": "CivicSight hub API",
                "type": INFINITY,
                "uid": HUB_API_UID,
                "url": "${CIVICSIGHT_GRAFANA_HUB_URL}",
                "jsonData": {
                    "auth_method": "bearerToken",
                    "allowedHosts": ["${CIVICSIGHT_GRAFANA_HUB_URL}"],
                    "timeoutInSeconds": 30,
                },
                "secureJsonData": {"bearerToken": "${CIVICSIGHT_GRAFANA_HUB_TOKEN}"},
                "editable": False,
            },
        ],
    }


def dashboards_provisioning() -> dict[str, object]:
    """``provisioning/dashboards/civicsight.yaml``: the built JSON files, in one folder,
    read-only in Grafana (the code is the source)."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "civicsight",
                "orgId": 1,
                "folder": FOLDER,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": "${CIVICSIGHT_GRAFANA_DASHBOARDS}"},
            }
        ],
    }
