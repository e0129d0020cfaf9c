"""`harness leaderboard RUN... --out DIR`: several tasks' rankings combined into one table.

stored.py reads each run's task and verdicts, combine.py ranks across tasks (Borda and Kemeny
from harness.stats.rank_aggregation) with intervals from resampling items within each task,
page.py writes leaderboard.csv, leaderboard.md and leaderboard.html, command.py is the CLI.
"""
