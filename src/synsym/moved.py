"""Modules and names that moved when the SynSym recipe left the framework (0.3): `synsym.pipeline.judge`
is now `synsym.recipe.judge.stage`, `synsym.pipeline.config.JudgeConfig` is
`synsym.recipe.common.judge_config.JudgeConfig`, and so on. An import by the old name still works for one
release, with a DeprecationWarning that names the new home; `import synsym` installs the redirect.

This is the import system's own mechanism (a meta path finder that loads the new module under both
names), not a copy of each module, so old and new names are one module object.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

# old module -> its new home
MOVED = {
    f"synsym.pipeline.{old}": f"synsym.recipe.{new}"
    for old, new in {
        "stages": "stages",
        "expand": "expand",
        "generate": "generate",
        "compose": "compose",
        "negatives": "negatives",
        "contexts": "contexts",
        "given": "given",
        "dedup": "dedup.stage",
        "minhash": "dedup.minhash",
        "judge": "judge.stage",
        "garbage": "common.garbage",
        "judge_embedding": "common.embedding_judge",
        "calibrated": "common.calibrated",
        "prompts": "common.prompts",
        "statements": "common.statements",
        "contrast": "contrast.stage",
        "rewrites": "contrast.rewrites",
        "rewrite_checks": "contrast.checks",
        "english": "contrast.english",
        "realism": "realism.stage",
        "transforms": "realism.transforms",
        "export": "export.stage",
        "export_files": "export.files",
        "card": "export.card",
    }.items()
}


_CONFIGS = {
    "expand": ["ExpandConfig"],
    "generate": ["GenerateConfig"],
    "compose": ["ComposeConfig"],
    "negatives": ["NegativeKind", "NegativesConfig", "default_negative_kinds"],
    "contrast.config": ["RewritePair", "ContrastKind", "ContrastConfig", "default_contrast_kinds"],
    "realism.config": ["LongPostsConfig", "RealismConfig"],
    "common.judge_config": ["JudgeConfig"],
    "dedup.stage": ["DedupConfig"],
    "export.stage": ["ExportConfig", "ExportFormat"],
}
# a module (one that stayed, or an old name above) -> {a name that left it: its new module}
MOVED_NAMES = {
    "synsym.pipeline.config": {
        name: f"synsym.recipe.{home}" for home, names in _CONFIGS.items() for name in names
    },
    "synsym.pipeline.judge": dict.fromkeys(
        ("targets", "verdict", "first_person", "embedding_threshold"), "synsym.recipe.common.scoring"
    ),
    "synsym.pipeline.export_files": {"json_default": "synsym.core.atomic"},
    "synsym.core.executor": dict.fromkeys(
        ("INSTALL_HINT", "import_ray", "ray_session", "join", "leave", "reachable"),
        "synsym.core.ray_executor",
    ),
}


def _moved_name(module: str, name: str) -> object:
    home = MOVED_NAMES[module].get(name)
    if home is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(f"{module}.{name} moved to {home}; import it from there", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(home), name)


def _from_either(module: ModuleType, old: str, name: str) -> object:
    if hasattr(module, name):
        return getattr(module, name)
    return _moved_name(old, name)


class _WithMovedNames(importlib.abc.Loader):
    """A module that stayed, loaded as usual, then answering for the names that left it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__getattr__ = functools.partial(_moved_name, module.__name__)  # type: ignore[method-assign]


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name in MOVED:
            return importlib.machinery.ModuleSpec(name, self)
        if name in MOVED_NAMES:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _WithMovedNames(spec.loader)
            return spec
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        if spec.name not in MOVED_NAMES:
            return module
        # some of its names went elsewhere: a stand-in that answers with the new module's, then those
        proxy = ModuleType(spec.name, module.__doc__)
        proxy.__getattr__ = functools.partial(_from_either, module, spec.name)  # type: ignore[method-assign]
        return proxy

    def exec_module(self, module: ModuleType) -> None:
        """The new module ran when it was imported under its own name."""


def install() -> None:
    """Put the redirect first, so a module that stayed is loaded through it (and answers for the names
    that left it)."""
    if not any(isinstance(f, _Redirect) for f in sys.meta_path):
        sys.meta_path.insert(0, _Redirect())
