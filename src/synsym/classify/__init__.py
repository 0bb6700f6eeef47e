"""Symptom classifiers trained on synthetic and real data, evaluated like the SynSym paper."""
