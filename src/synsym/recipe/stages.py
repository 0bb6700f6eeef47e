"""The stage list: the SynSym recipe and synsym's additions, in the order they run.

Adding a stage is one module and one line here. A stage that reads ROWS sees the rows as the stages
before it left them; the stages after it see what it wrote (see synsym.pipeline.stage).
"""

from __future__ import annotations

from synsym.pipeline.compose import ComposeStage
from synsym.pipeline.contexts import ContextsStage
from synsym.pipeline.contrast import ContrastStage
from synsym.pipeline.dedup import DedupStage
from synsym.pipeline.expand import ExpandStage
from synsym.pipeline.export import ExportStage
from synsym.pipeline.generate import GenerateStage
from synsym.pipeline.judge import JudgeStage
from synsym.pipeline.negatives import NegativesStage
from synsym.pipeline.realism import RealismStage
from synsym.pipeline.stage import Stage

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
