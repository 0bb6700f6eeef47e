"""synsym: synthetic symptom-level data for psychiatric symptom identification (SynSym, KDD 2026).

The public Python API: everything the CLI does, a Python user can do with these names (docs/api.md).
Names are imported on first use, so `import synsym` stays fast and pulls in no model library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

from synsym.moved import install as _install_moved

_install_moved()

_API = {
    # configs and runs
    "augment": "synsym.augment",
    "contrast": "synsym.augment",
    "RunConfig": "synsym.pipeline.config",
    "load_run_config": "synsym.pipeline.config",
    "run_config": "synsym.pipeline.config",
    "prepare_run": "synsym.pipeline.prepare",
    "run_pipeline": "synsym.pipeline.runner",
    "RunResult": "synsym.pipeline.runner",
    # stages, for adding one
    "STAGES": "synsym.recipe.stages",
    "Stage": "synsym.pipeline.stage",
    "LLMStage": "synsym.pipeline.stage",
    "RowStage": "synsym.pipeline.stage",
    "ROWS": "synsym.pipeline.stage",
    "register": "synsym.core.plugins",
    # taxonomies
    "Taxonomy": "synsym.core.taxonomy",
    "load_taxonomy": "synsym.core.taxonomy",
    # backends and the engine
    "BackendConfig": "synsym.core.config",
    "Backend": "synsym.backends.base",
    "create_backend": "synsym.backends.base",
    "register_backend": "synsym.backends.base",
    "ChatRequest": "synsym.backends.base",
    "Engine": "synsym.engine.engine",
    "Task": "synsym.engine.engine",
    "Result": "synsym.engine.engine",
    "ResponseCache": "synsym.engine.cache",
    # data and classifiers
    "Post": "synsym.core.columns",
    "DropClass": "synsym.core.columns",
    "read_export": "synsym.core.dataset",
    "load_dataset": "synsym.classify.sources",
    "LabelledTexts": "synsym.classify.texts",
    "train_model": "synsym.classify.api",
    "load_model": "synsym.classify.models",
    # errors
    "SynsymError": "synsym.core.errors",
    "UserError": "synsym.core.errors",
    "ConfigError": "synsym.core.errors",
    "InputError": "synsym.core.errors",
    "BackendError": "synsym.core.errors",
    "BudgetExceeded": "synsym.core.errors",
    "EndpointUnavailable": "synsym.core.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'synsym' has no attribute {name!r}")
    value = getattr(import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from synsym.augment import augment, contrast
    from synsym.backends.base import Backend, ChatRequest, create_backend, register_backend
    from synsym.classify.api import train_model
    from synsym.classify.models import load_model
    from synsym.classify.sources import load_dataset
    from synsym.classify.texts import LabelledTexts
    from synsym.core.columns import DropClass, Post
    from synsym.core.config import BackendConfig
    from synsym.core.dataset import read_export
    from synsym.core.errors import (
        BackendError,
        BudgetExceeded,
        ConfigError,
        EndpointUnavailable,
        InputError,
        SynsymError,
        UserError,
    )
    from synsym.core.plugins import register
    from synsym.core.taxonomy import Taxonomy, load_taxonomy
    from synsym.engine.cache import ResponseCache
    from synsym.engine.engine import Engine, Result, Task
    from synsym.pipeline.config import RunConfig, load_run_config, run_config
    from synsym.pipeline.prepare import prepare_run
    from synsym.pipeline.runner import RunResult, run_pipeline
    from synsym.pipeline.stage import ROWS, LLMStage, RowStage, Stage
    from synsym.recipe.stages import STAGES
