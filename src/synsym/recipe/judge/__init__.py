"""The judge stage (`stage`): every (post, symptom) scored, what falls short dropped. Its settings and
scoring live in `synsym.recipe.common` (`judge_config`, `scoring`), since contrast judges its rewrites
and export reports the calibration the same way."""
