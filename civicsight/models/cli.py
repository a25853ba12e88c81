"""``civicsight models list | verify | pull [NAME...]``: the model registry from the shell."""

from __future__ import annotations

import argparse
import sys

from civicsight.models.registry import ModelUnavailableError, load_registry, resolve
from civicsight.settings import HubSettings, ModelSource


class ModelsSettings(HubSettings, ModelSource):
    """`civicsight models`: where the model files are."""


def status(name: str, settings: ModelsSettings) -> tuple[str, str]:
    spec = load_registry()[name]
    if spec.site_setting is not None:
        return "site", f"weights supplied by the site through {spec.site_setting}"
    try:
        _, folder = resolve(name, settings.model_mirror, settings.data_dir / "models")
    except ModelUnavailableError as err:
        return "missing" if "not found" in str(err) or "missing" in str(err) else "corrupt", str(
            err
        )
    return "ok", str(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicsight models", description=__doc__)
    parser.add_argument("action", choices=["list", "verify", "pull"])
    parser.add_argument("names", nargs="*", help="models (default: all)")
    args = parser.parse_args(argv)
    settings = ModelsSettings()
    registry = load_registry()
    names = args.names or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        print(
            f"unknown model(s): {', '.join(unknown)}; known: {', '.join(registry)}", file=sys.stderr
        )
        return 2
    failed = 0
    for name in names:
        spec = registry[name]
        if args.action == "pull" and spec.site_setting is not None:
            print(f"{name:26} site     weights supplied by the site through {spec.site_setting}")
            continue
        if args.action == "pull":
            try:
                _, folder = resolve(
                    name, settings.model_mirror, settings.data_dir / "models", download=True
                )
                print(f"{name:26} ok       {folder}")
            except ModelUnavailableError as err:
                failed += 1
                print(f"{name:26} FAILED   {err}", file=sys.stderr)
            continue
        state, detail = status(name, settings)
        failed += state not in ("ok", "site")
        if args.action == "list":
            print(
                f"{name:26} {state:8} {spec.task:18} {spec.runtime:11} {spec.licence:28} "
                f"{spec.published_accuracy}"
            )
        elif state not in ("ok", "site"):
            print(f"{name:26} {state:8} {detail}", file=sys.stderr)
        else:
            print(f"{name:26} {state:8} {detail}")
    return 1 if failed and args.action != "list" else 0


if __name__ == "__main__":
    raise SystemExit(main())
