"""The export stage (`stage`): the dataset files (`files`) and the dataset card (`card`); what it adds
to the run's manifest is its `record`."""
