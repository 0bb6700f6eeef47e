"""`finetune`: a transformer encoder with a multi-label head, BCE, AdamW, linear warm-up, early stopping
on validation loss, best checkpoint kept.

Naive fine-tuning on synthetic posts learns their style and transfers to real text worse than the frozen
encoder (the issue measured 0.781 vs 0.807 ROC-AUC). What made it transfer in benchmarks/classifier.py:
- LP-FT (Kumar et al., ICLR 2022), on by default: fit the head on frozen embeddings first, so fine-tuning
  starts from the `embed` model and the encoder is not distorted by gradients from a random head. With
  sentence-normalised features a random head also needs far more than one epoch to learn anything.
- early stopping on validation loss with the best checkpoint kept (pass real validation text if you have any).
Also available, and measured without a gain at one epoch (so off by default): frozen lower layers
(`freeze_layers`), L2-SP toward the starting weights (Li et al., ICML 2018; `l2sp`), and WiSE-FT
(Wortsman et al., CVPR 2022; `wise_alpha` < 1 keeps alpha x fine-tuned + (1 - alpha) x starting weights,
i.e. an interpolation toward `embed`). `lp_init: false` gives the naive recipe.

Early stopping is scored on the dev set when one is given (real text: the point where fine-tuning stops
helping transfer), else on the validation split; `select: shift` makes that split text unlike what the
model trains on (a whole style; see splits.shift_folds). With contrastive rewrites in the data,
`pairwise_weight` > 0 adds a ranking term: for each (source, rewrite, removed symptom) the source's logit
should exceed the rewrite's (RankNet's log(1 + exp(-(z_source - z_rewrite)))), and batches keep a post
with its rewrites so each pair meets.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from synsym.classify.models.base import BaseParams, Classifier, fit_logistic, selection_score, sigmoid
from synsym.classify.splits import shift_folds
from synsym.classify.texts import LabelledTexts
from synsym.core import encoders


class FinetuneParams(BaseParams):
    """Options of `finetune`."""

    encoder: str = Field(encoders.DEFAULT_ENCODER, description="encoder to fine-tune: a name or local path")
    max_length: int = Field(128, description="tokens of a text the encoder reads")
    epochs: float = Field(1.0, description="passes over the training data (fractions allowed)")
    max_steps: int | None = Field(None, description="stop after this many optimiser steps, if fewer")
    batch_size: int = Field(32, description="texts per optimiser step")
    lr: float = Field(5e-5, description="learning rate of the encoder")
    head_lr: float = Field(5e-5, description="learning rate of the head")
    weight_decay: float = Field(0.01, description="AdamW weight decay of the encoder")
    warmup_ratio: float = Field(0.1, description="share of the steps the learning rate warms up over")
    freeze_layers: int = Field(
        0, description="this many lowest transformer layers stay frozen (token embeddings always do)"
    )
    l2sp: float = Field(
        0.0, description="weight of ||theta - theta_start||^2 over trainable encoder weights (L2-SP)"
    )
    lp_init: bool = Field(True, description="fit the head on frozen embeddings before fine-tuning (LP-FT)")
    c: float = Field(
        10.0,
        description="L2 strength of the linear-probe head; 10, not embed's 1: with 1 the fine-tuned model "
        "lost 0.02-0.04 macro-F1 on the paper's split and 0.01-0.04 ReDSM5 AUC (benchmarks/contrast.py, "
        "docs/classifiers.md)",
    )
    evals_per_epoch: int = Field(4, description="early-stopping checks an epoch")
    patience: int = Field(2, description="checks without improvement before stopping")
    wise_alpha: float = Field(
        1.0, ge=0, le=1, description="WiSE-FT: share of the fine-tuned weights kept; 1 keeps them as they are"
    )
    stop_on: Literal["loss", "auc"] = Field(
        "loss", description="early stopping on masked BCE or mean ROC-AUC of the stopping set"
    )
    pairwise_weight: float = Field(
        0.0, ge=0, description="weight of the source-above-rewrite ranking term; 0: off"
    )


class FinetuneClassifier(Classifier):
    """SentenceTransformer encoder (so pooling matches `embed`) + linear head, trained end to end."""

    kind = "finetune"
    Params = FinetuneParams
    params: FinetuneParams

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        super().__init__(params)
        self.encoder: Any = None
        self.head: Any = None

    # --- model pieces ------------------------------------------------------------------------------------
    def _build(self, n_labels: int) -> None:
        import torch

        self.encoder = encoders.load_encoder(self.params.encoder, self.params.max_length, fresh=True)
        dim = (
            self.encoder.get_embedding_dimension()
            if hasattr(self.encoder, "get_embedding_dimension")
            else None
        )
        dim = dim or self.encoder.get_sentence_embedding_dimension()
        self.head = torch.nn.Linear(dim, n_labels).to(self._device())

    def _device(self) -> Any:
        return next(self.encoder.parameters()).device

    def _logits(self, texts: list[str]) -> Any:
        prep = getattr(self.encoder, "preprocess", None) or self.encoder.tokenize
        feats = prep(texts)
        feats = {k: v.to(self._device()) if hasattr(v, "to") else v for k, v in feats.items()}
        return self.head(self.encoder(feats)["sentence_embedding"])

    def _freeze(self) -> list[Any]:
        """Freeze the token embeddings (always: words the synthetic posts never use keep their pretrained
        vectors) and the lowest `freeze_layers` layers; return the trainable encoder params."""
        n = self.params.freeze_layers
        trainable = []
        for name, p in self.encoder.named_parameters():
            frozen = "embeddings." in name or any(f"layer.{i}." in name for i in range(n))
            p.requires_grad_(not frozen)
            if not frozen:
                trainable.append(p)
        return trainable

    # --- training ----------------------------------------------------------------------------------------
    def _with_val(
        self, train: LabelledTexts, val: LabelledTexts | None, seed: int
    ) -> tuple[LabelledTexts, LabelledTexts]:
        """With `select: shift` and no validation file, validation is one of `shift_folds`' held-out
        parts (the one that leaves the most rows to train on: usually the smallest style): early stopping
        and thresholds then see text unlike what the model trains on, at the cost of those rows."""
        if val is not None or self.params.select != "shift":
            return super()._with_val(train, val, seed)
        name, (fit_rows, held) = max(
            ((name, fold) for name, folds in shift_folds(train).items() for fold in folds),
            key=lambda item: len(item[1][0]),
        )
        self.history["val_from"] = name
        return train.subset(fit_rows), train.subset(held)

    def _fit(
        self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool, dev: LabelledTexts | None
    ) -> None:
        import torch

        encoders.set_threads()
        torch.manual_seed(seed)
        p = self.params
        if not warm:
            self._build(len(train.label_names))
            if p.lp_init:
                self._probe_head(train)
        start = self._state() if p.wise_alpha < 1 else {}
        stop_set = dev if dev is not None else val
        has_val = len(stop_set) > 0 and bool(stop_set.mask.any())
        stopper = _Stopper(self._criterion(stop_set), self._state()) if has_val else _Stopper(math.inf, {})
        steps = self._train(train, stop_set if has_val else None, seed, stopper)
        if has_val:
            self._restore(stopper.state)
        if start:
            self._interpolate(start, p.wise_alpha)
        self.encoder.eval()
        self.history.update(
            steps=steps,
            best_step=stopper.step,
            stopped_on=(("dev" if dev is not None else "val") + f" {p.stop_on}") if has_val else None,
            best_val_loss=stopper.best,
            val_curve=stopper.curve,
        )

    def _probe_head(self, train: LabelledTexts) -> None:
        """LP-FT's first half: the head fitted on frozen embeddings, so fine-tuning starts from the `embed`
        model instead of letting a random head's gradients distort the encoder."""
        import torch

        p = self.params
        x = encoders.embed(p.encoder, train.texts, p.max_length)
        w, b = fit_logistic(x, train.labels, train.mask, c=p.c)
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(w.T))
            self.head.bias.copy_(torch.as_tensor(b))

    def _train(
        self, train: LabelledTexts, stop_set: LabelledTexts | None, seed: int, stopper: _Stopper
    ) -> int:
        """Optimiser steps over shuffled batches until the step budget is spent or the stopping set (when
        there is one) has not improved for `patience` checks; returns the steps taken."""
        p = self.params
        trainable = self._freeze()
        anchor = [t.detach().clone() for t in trainable]
        per_epoch = math.ceil(len(train) / p.batch_size)
        total = max(1, math.ceil(per_epoch * p.epochs))
        if p.max_steps:
            total = min(total, p.max_steps)
        opt, sched = self._optimiser(trainable, total)
        every = max(1, per_epoch // max(1, p.evals_per_epoch))
        rng = np.random.default_rng(seed)
        step = 0
        self.encoder.train()
        while step < total and stopper.bad < p.patience:
            for batch in batches(train, per_epoch, rng):
                loss = self._loss(train, batch, trainable, anchor)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if stop_set is not None and (step % every == 0 or step == total):
                    stopper.check(step, self._criterion(stop_set), self._state)
                    self.encoder.train()  # the check ran in eval mode
                if step >= total or stopper.bad >= p.patience:
                    break
        return step

    def _optimiser(self, trainable: list[Any], total: int) -> tuple[Any, Any]:
        """AdamW with its own learning rate for the encoder and the head (no decay on the head), and a
        linear warm-up over `warmup_ratio` of the steps, then a linear decay to zero."""
        import torch

        p = self.params
        opt = torch.optim.AdamW(
            [
                {"params": trainable, "lr": p.lr, "weight_decay": p.weight_decay},
                {"params": list(self.head.parameters()), "lr": p.head_lr, "weight_decay": 0.0},
            ]
        )
        warmup = int(total * p.warmup_ratio)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)

    def _loss(self, train: LabelledTexts, batch: np.ndarray, trainable: list[Any], anchor: list[Any]) -> Any:
        """A batch's masked BCE (a label a row does not annotate adds nothing), plus the source-above-
        rewrite ranking term and the L2-SP pull toward the starting weights where they are on."""
        import torch

        p = self.params
        logits = self._logits([train.texts[i] for i in batch])
        y = torch.as_tensor(train.labels[batch]).to(logits.device)
        m = torch.as_tensor(train.mask[batch], dtype=torch.float32).to(logits.device)
        bce = torch.nn.BCEWithLogitsLoss(reduction="none")(logits, y)
        loss = (bce * m).sum() / m.sum().clamp(min=1)
        if p.pairwise_weight and len(train.pairs):
            loss = loss + p.pairwise_weight * pairwise_loss(logits, batch, train.pairs, len(train))
        if p.l2sp and trainable:
            loss = loss + p.l2sp * sum(((t - a) ** 2).sum() for t, a in zip(trainable, anchor, strict=True))
        return loss

    def _state(self) -> dict[str, Any]:
        return {
            "encoder": copy.deepcopy(self.encoder.state_dict()),
            "head": copy.deepcopy(self.head.state_dict()),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.head.load_state_dict(state["head"])

    def _interpolate(self, start: dict[str, Any], alpha: float) -> None:
        """Weight-space ensemble of the current weights with `start` (WiSE-FT)."""
        for part, module in (("encoder", self.encoder), ("head", self.head)):
            mixed = {
                k: alpha * v + (1 - alpha) * start[part][k] if v.is_floating_point() else v
                for k, v in module.state_dict().items()
            }
            module.load_state_dict(mixed)

    def _criterion(self, val: LabelledTexts) -> float:
        """What early stopping minimises on the stopping set: masked binary cross-entropy, or (with
        `stop_on: auc`) minus the mean ROC-AUC."""
        probs = np.clip(self.predict_proba(val.texts), 1e-6, 1 - 1e-6)
        if self.params.stop_on == "auc":
            return -selection_score(val, probs)
        y, m = val.labels, val.mask
        loss = -(y * np.log(probs) + (1 - y) * np.log(1 - probs))
        return float((loss * m).sum() / m.sum())

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        self.encoder.eval()
        out = []
        with torch.inference_mode():
            order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
            for start in range(0, len(texts), 64):
                idx = order[start : start + 64]
                out.append((idx, self._logits([texts[i] for i in idx]).float().cpu().numpy()))
        logits = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        for idx, block in out:
            logits[idx] = block
        return sigmoid(logits)

    # --- persistence -------------------------------------------------------------------------------------
    def _save(self, out: Path) -> None:
        self.encoder.save(str(out / "encoder"))
        w = self.head.weight.detach().cpu().numpy()
        np.savez(out / "head.npz", w=w.T, b=self.head.bias.detach().cpu().numpy())

    def _load(self, src: Path) -> None:
        import torch

        self.params = self.params.model_copy(update={"encoder": str(src / "encoder")})
        self._build(len(self.label_names))
        with np.load(src / "head.npz") as head, torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(head["w"].T))
            self.head.bias.copy_(torch.as_tensor(head["b"]))
        self.head.to(self._device())
        self.encoder.eval()


@dataclass
class _Stopper:
    """Early stopping's bookkeeping: the best criterion so far (lower is better), the step and weights
    it came from, every check's value, and how many checks in a row failed to improve on it."""

    best: float
    state: dict[str, Any]
    step: int = 0
    bad: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.curve.append((0, self.best))

    def check(self, step: int, value: float, state: Callable[[], dict[str, Any]]) -> None:
        """Record a check; keep the weights (`state()`, a copy, taken only then) when it improves by more
        than noise."""
        self.curve.append((step, value))
        if value < self.best - 1e-4:
            self.best, self.step, self.state, self.bad = value, step, state(), 0
        else:
            self.bad += 1


def batches(ds: LabelledTexts, n_batches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of row batches in random order; the rows of a group (a post and its rewrites) share a
    batch, so every pair's two rows meet in one. Without groups: a plain shuffle."""
    gid = ds.group_ids()
    rank = np.empty(gid.max() + 1 if len(gid) else 0, dtype=np.int64)
    rank[rng.permutation(len(rank))] = np.arange(len(rank))
    rows = np.argsort(rank[gid], kind="stable")
    first = np.r_[True, gid[rows][1:] != gid[rows][:-1]]  # where each group starts in `rows`
    start = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
    which = start * n_batches // max(1, len(rows))  # a group goes to the batch its first row falls in
    return [rows[which == b] for b in np.unique(which)]


def pairwise_loss(logits: Any, batch: np.ndarray, pairs: np.ndarray, n_rows: int) -> Any:
    """Mean log(1 + exp(-(z_source - z_rewrite))) over the pairs whose two rows are in this batch."""
    import torch

    where = np.full(n_rows, -1, dtype=np.int64)
    where[batch] = np.arange(len(batch))
    here = pairs[(where[pairs[:, 0]] >= 0) & (where[pairs[:, 1]] >= 0)]
    if not len(here):
        return logits.sum() * 0.0
    device = logits.device
    src = torch.as_tensor(where[here[:, 0]], device=device)
    rew = torch.as_tensor(where[here[:, 1]], device=device)
    lab = torch.as_tensor(here[:, 2], device=device)
    return torch.nn.functional.softplus(logits[rew, lab] - logits[src, lab]).mean()
