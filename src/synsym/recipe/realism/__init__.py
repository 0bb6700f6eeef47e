"""The realism stage (`stage`): long posts built around judged statements, and surface transformations
(`transforms`); its settings in `config`."""
