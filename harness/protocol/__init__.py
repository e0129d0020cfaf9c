"""The protocol contract and its views, together: what a judge protocol (task kind) implements
(`task.py`), what it hands back (`aggregate.py`), the options every protocol shares (`options.py`)
and what changing one changes (`roles.py`), and the generic views a protocol may override: panels
(`panel_view.py`, `pooling.py`), replays (`replay_view.py`) and calibration (`calibrator.py`). The
report's view (`harness.reports.view`) stays with the report code whose data it reads.

Plugins import the contract from here: `from harness.protocol import Task, TaskKind, ...`.
"""

from harness.protocol.aggregate import REASK_PROMPT, Aggregate, InvalidOutput
from harness.protocol.options import JudgeOptions
from harness.protocol.roles import role
from harness.protocol.task import Task, TaskKind

__all__ = ["REASK_PROMPT", "Aggregate", "InvalidOutput", "JudgeOptions", "Task", "TaskKind", "role"]
