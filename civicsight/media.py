"""Sample media for the demo: from the offline mirror, or downloaded where a site has internet."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import yaml

from civicsight.checksums import sha256_file as _sha256


class MediaUnavailableError(RuntimeError):
    pass


def ensure_media(manifest: Path, mirror: Path | None, cache: Path, download: bool) -> Path:
    """A folder holding every file of ``manifest`` with the right sha256: the mirror if it
    has them all, otherwise ``cache`` (filled by download when allowed)."""
    wanted: dict[str, dict[str, str]] = yaml.safe_load(manifest.read_text())
    if mirror is not None and all(
        (mirror / n).is_file() and _sha256(mirror / n) == w["sha256"] for n, w in wanted.items()
    ):
        return mirror
    cache.mkdir(parents=True, exist_ok=True)
    for name, want in wanted.items():
        target = cache / name
        if target.is_file() and _sha256(target) == want["sha256"]:
            continue
        if not download:
            raise MediaUnavailableError(
                f"sample media {name} not found (or corrupt) in {mirror or '(no mirror)'}; set "
                f"CIVICSIGHT_MEDIA_MIRROR to a folder holding it, or allow downloads from "
                f"{want['url']}"
            )
        try:
            with (
                urllib.request.urlopen(want["url"], timeout=60) as resp,
                (cache / f"{name}.part").open("wb") as out,
            ):
                shutil.copyfileobj(resp, out)
        except OSError as err:
            raise MediaUnavailableError(f"cannot download {want['url']}: {err}") from err
        if _sha256(cache / f"{name}.part") != want["sha256"]:
            raise MediaUnavailableError(f"{want['url']}: checksum mismatch")
        (cache / f"{name}.part").replace(target)
    return cache
