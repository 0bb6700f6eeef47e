"""The contrast stage (`stage`): kept posts rewritten to change one dimension of what a label means.
Its settings and kinds (`config`), the rule-made rewrites (`rewrites`, with `english` for verb
agreement) and the checks a model's rewrite must pass (`checks`)."""
