"""What several stages of the recipe share: prompt templates, turning answers into rows, the judge's
scoring (used by the judge and by contrast to check its rewrites), the embedding judge and calibration."""
