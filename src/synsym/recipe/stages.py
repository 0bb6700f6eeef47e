"""The stage list: the SynSym recipe and synsym's additions, in the order they run.

Adding a stage is one module and one line here. A stage that reads ROWS sees the rows as the stages
before it left them; the stages after it see what it wrote (see synsym.pipeline.stage).
"""

from __future__ import annotations

from synsym.pipeline.stage import Stage
from synsym.recipe.compose import ComposeStage
from synsym.recipe.contexts import ContextsStage
from synsym.recipe.contrast.stage import ContrastStage
from synsym.recipe.dedup.stage import DedupStage
from synsym.recipe.expand import ExpandStage
from synsym.recipe.export.stage import ExportStage
from synsym.recipe.generate import GenerateStage
from synsym.recipe.judge.stage import JudgeStage
from synsym.recipe.negatives import NegativesStage
from synsym.recipe.realism.stage import RealismStage

STAGES: tuple[Stage, ...] = (
    ExpandStage(),  # sub-concepts per symptom
    GenerateStage(),  # single-symptom posts per symptom and sub-concept, in every style
    ComposeStage(),  # multi-symptom posts for plausible combinations
    NegativesStage(),  # hard negatives and negated statements
    ContextsStage(),  # neutral passages for long posts
    DedupStage(),  # exact and near duplicates, copies of examples
    JudgeStage(),  # every (post, symptom) scored; what falls short is dropped
    ContrastStage(),  # kept posts rewritten to change one dimension of what a label means
    RealismStage(),  # long posts and surface transformations
    ExportStage(),  # the dataset files, card and manifest
)
