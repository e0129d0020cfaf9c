"""Judges measured against human labels, and what was learned applied to their scores.

`harness calibrate JUDGE_RUN --against HUMAN_RUN --out FILE` (command.py) reads two run
directories of one protocol and asks that protocol's calibrator (calibrator.py; the registered
task class's `Task.calibrator()`) to match their verdicts, measure agreement and calibration, and
fit a map from the judge's values to the human scale; the map is a JSON file (mapfile.py) tied
to the judge it was made for (identity.py). `--calibration FILE` on `harness run` /
`harness aggregate` applies it (apply.py). The statistics themselves live in
harness.stats.calibration and harness.stats.agreement.
"""
