"""The uvicorn server the API runs in, set up the same way for the service and its tests.

- No ``server: uvicorn`` banner.
- Forwarded headers (``X-Forwarded-For``, ``-Proto``) are believed only from the proxies
  listed in ``trusted_proxies``; with none (the default) the client's address is the
  peer's, whatever the request says. uvicorn itself would trust 127.0.0.1, which let a
  local caller forge the address the login throttle and the audit log see.
"""

from __future__ import annotations

from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI


def api_server(
    app: FastAPI,
    host: str,
    port: int,
    trusted_proxies: Sequence[str] = (),
    log_level: str = "info",
) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level.lower(),
            log_config=None,
            timeout_graceful_shutdown=5,
            access_log=False,  # tiles poll twice a second per camera: too noisy to log
            server_header=False,
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies) or None,
        )
    )
