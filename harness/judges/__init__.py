"""Judge backends behind one async interface; each imports its SDK only when it is used."""

from harness.judges.base import FatalJudgeError, JudgeBackend, JudgeError, RequestRejected, TransientJudgeError

__all__ = ["JudgeBackend", "JudgeError", "TransientJudgeError", "FatalJudgeError", "RequestRejected"]
