"""One way to plug anything in. Backends, stages, classifiers and executors are entry points of one
group each (`synsym.backends`, `synsym.stages`, `synsym.classifiers`, `synsym.executors`), and synsym's
own register through the same groups in its pyproject.toml, as simonw/llm's built-in models do through
its plugin hooks. A package that declares an entry point in one of these groups is picked up by every
run and listed by `synsym config keys`; `register` adds one in-process (a notebook, a test).

Each plugin brings its own options model: a backend's `Options`, a stage's `Config`, a classifier's
`Params`, an executor's `Options`, so what it accepts is validated and documented the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar

from synsym.core.errors import ConfigError, suggest

Kind = Literal["backends", "stages", "classifiers", "executors"]
KINDS: tuple[Kind, ...] = ("backends", "stages", "classifiers", "executors")

T = TypeVar("T")
_registered: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}


def group(kind: Kind) -> str:
    """The entry point group of a kind of plugin."""
    return f"synsym.{kind}"


def register(kind: Kind, name: str, obj: T) -> T:
    """Add a plugin in this process, under `name`; it takes precedence over an entry point of that name."""
    _registered[kind][name] = obj
    return obj


def unregister(kind: Kind, name: str) -> None:
    _registered[kind].pop(name, None)


def named(kind: Kind, name: str, where: str, missing: Callable[[str, ImportError], Any] | None = None) -> Any:
    """The plugin of a kind registered under `name`, or a ConfigError at `where` that names the closest
    and the available ones (`backend.name -> unknown backend 'opena'; did you mean openai?; ...`)."""
    found = plugins(kind, missing)
    if name not in found:
        names = ", ".join(sorted(found)) or "none (is synsym installed?)"
        close = suggest(name, found)
        hint = close if close.startswith("; did you mean") else ""
        noun = kind.removesuffix("s")
        raise ConfigError(f"{where}.name -> unknown {noun} {name!r}{hint}; available: {names}")
    return found[name]


def plugins(kind: Kind, missing: Callable[[str, ImportError], Any] | None = None) -> dict[str, Any]:
    """Every plugin of a kind, by name: entry points (built-ins included) in the order the environment
    lists them, then those registered in-process. A plugin whose module needs a package that is not
    installed becomes `missing(name, error)`, a stand-in that says so when it is used; without
    `missing`, or when it fails otherwise, loading it is a ConfigError naming the plugin."""
    found: dict[str, Any] = {}
    for ep in entry_points(group=group(kind)):
        try:
            found[ep.name] = ep.load()
        except ImportError as exc:
            if missing is None:
                raise ConfigError(
                    f"the {group(kind)} plugin {ep.name!r} ({ep.value}) cannot load: {exc}"
                ) from exc
            found.setdefault(ep.name, missing(ep.name, exc))
        except Exception as exc:  # a broken plugin: name it rather than fail somewhere else
            raise ConfigError(
                f"the {group(kind)} plugin {ep.name!r} ({ep.value}) failed to load: {exc}; "
                "fix or uninstall the package that declares it"
            ) from exc
    found.update(_registered[kind])
    return found
