"""Modules and names that moved when the recipe left the framework still import by their old names for
one release, as the same objects, with a DeprecationWarning that names the new home."""

from __future__ import annotations

import importlib
import sys

import pytest

from synsym.moved import MOVED, MOVED_NAMES


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_new_module(old: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    new = importlib.import_module(MOVED[old])
    if old in MOVED_NAMES:  # a stand-in that also answers for the names that went elsewhere
        public = [n for n in dir(new) if not n.startswith("_")]
        assert public and all(getattr(module, n) is getattr(new, n) for n in public)
    else:
        assert module is new


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in MOVED_NAMES.items() for n in sorted(names)]
)
def test_an_old_name_is_the_new_object(module: str, name: str) -> None:
    home = importlib.import_module(MOVED_NAMES[module][name])
    with pytest.warns(DeprecationWarning, match=f"{module}.{name} moved to"):
        assert getattr(importlib.import_module(module), name) is getattr(home, name)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(ImportError):
        from synsym.pipeline.config import NoSuchConfig  # type: ignore[attr-defined]  # noqa: F401
