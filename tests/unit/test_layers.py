"""The layering contracts (import-linter, in pyproject.toml; `make lint` and `make test`
run `lint-imports`) and what they must cover: every kernel module is in the kernel's
contract, every service in the services' independence contract."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS_ABOVE_THE_KERNEL = {"services", "streams", "models", "bench", "tools", "dashboards"}


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def kernel_modules() -> set[str]:
    package = REPO / "civicsight"
    found = {
        f"civicsight.{p.stem}"
        for p in package.glob("*.py")
        if p.stem not in {"__init__", "__main__"}
    }
    found |= {
        f"civicsight.{p.name}"
        for p in package.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in LAYERS_ABOVE_THE_KERNEL
    }
    return found


def test_every_kernel_module_is_held_to_the_kernel_contract() -> None:
    """Guards a new kernel module that imports a service unnoticed: the contract names
    the kernel's modules one by one, so a new one must be added to it."""
    (kernel,) = [c for n, c in contracts().items() if n.startswith("The kernel")]
    assert set(kernel["source_modules"]) == kernel_modules()  # type: ignore[arg-type]


def test_every_service_is_held_to_the_independence_contract() -> None:
    (services,) = [c for n, c in contracts().items() if n.startswith("Services never")]
    present = {
        f"civicsight.services.{p.name}"
        for p in (REPO / "civicsight" / "services").iterdir()
        if (p / "__init__.py").exists()
    }
    assert set(services["modules"]) == present  # type: ignore[arg-type]


def test_the_api_is_layered_without_a_cycle() -> None:
    """Guards the app and its routers importing each other again (``app.py`` imported
    ``search_router`` late because ``search.py`` imported the camera id pattern from
    ``app``): the API's layers contract names every module of the API, routers are
    independent of each other, and the app sits above them all."""
    (api,) = [c for n, c in contracts().items() if n.startswith("The API")]
    assert api["type"] == "layers" and api["exhaustive"] is True
    assert api["containers"] == ["civicsight.services.api"]
    layers = [str(layer) for layer in api["layers"]]  # type: ignore[union-attr]
    app, routers = layers.index("app"), next(i for i, x in enumerate(layers) if "search" in x)
    assert app < routers < layers.index("deps") < layers.index("state")
    assert "|" in layers[routers] and ":" not in layers[routers]
