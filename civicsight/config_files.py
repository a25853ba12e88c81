"""Reading a YAML config file into its pydantic model, with errors that name the file and
the field (never the value, which may be a secret)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], error: type[Exception]) -> M:
    """``model`` validated from the YAML at ``path``; any problem raises ``error``."""
    try:
        return model.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError) as err:
        raise error(f"{path}: {err}") from err
    except ValidationError as err:
        raise error(f"{path}: {problems(err)}") from None


def problems(err: ValidationError) -> str:
    """Where and what is wrong, without the values (which may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in err.errors()
    )
