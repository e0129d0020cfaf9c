"""Judges measured against human labels, and what was learned applied to their scores.

`harness calibrate JUDGE_RUN --against HUMAN_RUN --out FILE` (command.py) matches the verdicts of
two run directories (matching.py), measures agreement and calibration and fits a map from the
judge's P(model_a better) (pairwise.py) or score (rubric.py) to the human scale; the map is a
JSON file (mapfile.py) tied to the judge it was made for (identity.py). `--calibration FILE` on
`harness run` / `harness aggregate` applies it (apply.py). The statistics themselves live in
harness.stats.calibration and harness.stats.agreement.
"""
