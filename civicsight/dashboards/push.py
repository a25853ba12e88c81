"""Upload dashboards to a Grafana with grafana-client (the one module that imports it):
into one folder (created when missing), each overwriting the dashboard of the same uid.
The token authenticates as ``Authorization: Bearer``; it is never printed."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

MESSAGE = "civicsight dashboards push"


class PushError(Exception):
    """Grafana refused something (the message names no secret)."""


def where(url: str) -> str:
    """The URL without user info or query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def push(
    url: str,
    token: str,
    dashboards: Mapping[str, dict[str, object]],
    folder_title: str,
    folder_uid: str,
    timeout_s: float = 30.0,
) -> list[str]:
    """Upload ``dashboards`` (name -> dashboard JSON) into the folder; returns the uids."""
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    try:
        try:
            api.folder.get_folder(folder_uid)
        except GrafanaClientError as err:
            if err.status_code != 404:
                raise
            api.folder.create_folder(folder_title, uid=folder_uid)
        uids = []
        for dashboard in dashboards.values():
            api.dashboard.update_dashboard(
                {
                    "dashboard": {**dashboard, "id": None},
                    "folderUid": folder_uid,
                    "overwrite": True,
                    "message": MESSAGE,
                }
            )
            uids.append(str(dashboard["uid"]))
        return uids
    except GrafanaClientError as err:
        raise PushError(f"Grafana at {where(url)} answered {err.status_code}") from None
