"""Who may import whom, read from the source: the kernel imports no layer above it, and
services never import each other (one documented exception, which the integrator may
move into models/)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KNOWN_SERVICE_IMPORTS = {("api", "reid")}  # services/api/embedder.py: the re-ID builders


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_kernel_imports_no_layer_above_it() -> None:
    """Guards the kernel's independence: ``civicsight/`` never imports services, streams or
    model runtimes (the watchlist and face rules moved there so that it need not)."""
    bad = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "civicsight").rglob("*.py"))
        for name in imports(path)
        if name.split(".")[0] in {"services", "streams", "models"}
    ]
    assert bad == []


def test_services_never_import_each_other() -> None:
    """Guards the service boundaries: the API enrols faces and shows alerts through the
    kernel and the model runtimes, never through ``services.faces``."""
    bad = []
    for path in sorted((REPO / "services").rglob("*.py")):
        own = path.relative_to(REPO / "services").parts[0]
        for name in imports(path):
            parts = name.split(".")
            other = parts[1] if parts[0] == "services" and len(parts) > 1 else own
            if other != own and (own, other) not in KNOWN_SERVICE_IMPORTS:
                bad.append(f"{path.relative_to(REPO)}: {name}")
    assert bad == []
