"""Errors the CLI turns into exit codes, so users see one clear line and never a traceback."""


class BadInput(Exception):
    """The user's input is wrong (task file, dataset, option): exit code 2.

    The message names the file and the field, and fits on one line.
    """


class RunFailed(Exception):
    """The run could not finish (fatal judge error, stopped early): exit code 1.

    Everything stored before the failure stays stored; rerunning resumes. `directory` is the run
    directory when one was written (the CLI names it, since rerunning with it resumes).
    """

    directory: object | None = None


class BudgetReached(RunFailed):
    """A budget (--max-calls) stopped the run cleanly; rerunning continues where it stopped.
    `budget`: which one ("--max-calls 3"); `unjudged`: the requests it left."""

    def __init__(self, budget: str, unjudged: int):
        super().__init__(f"{budget} reached with {unjudged} requests not judged")
        self.budget, self.unjudged = budget, unjudged
