"""The SynSym recipe: the stages that make a dataset and the helpers they share, on top of the framework
in synsym.pipeline (which imports nothing from here). `synsym.recipe.stages.STAGES` is the list, in the
order the stages run; each stage is one module or sub-package holding the stage and its `Config`; what
several stages share lives in `synsym.recipe.common`."""
