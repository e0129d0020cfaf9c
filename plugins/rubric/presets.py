"""The rubrics behind the presets, worded for this harness (in the spirit of each benchmark).

- prometheus: a 1-5 rubric on overall helpfulness, graded with the reference answer in view
  (Prometheus' absolute grading: feedback, then `[RESULT] N`, which the parser also accepts).
- wb_score: WildBench's 1-10 scale described in bands of two; scores.csv gets `wb_score` (the
  mean) and `wb_score_adjusted` = (mean - 5) * 2.
- mt_bench: MT-Bench single-answer grading on 1-10 (a reference, when the item has one, is shown
  as MT-Bench does for maths and reasoning questions).
"""

from __future__ import annotations

from harness_plugins.rubric.config import Rubric

PRESETS: dict[str, Rubric] = {
    "prometheus": Rubric(
        criterion=(
            "Does the response fulfil the user's request correctly and helpfully, matching the "
            "substance of the reference answer where one is given?"
        ),
        scores={
            1: "The response is wrong, off-topic or unusable: it contradicts the reference answer or ignores the request.",
            2: "The response touches the request but its main content is mostly incorrect or missing; it would mislead the user.",
            3: "The response is partly correct: the core point is there, but important parts are missing, vague or contain errors.",
            4: "The response is correct and useful, with only minor omissions, small inaccuracies or unclear passages.",
            5: "The response is fully correct, complete and clear; it covers what the reference answer covers and serves the user well.",
        },
    ),
    "wb_score": Rubric(
        criterion=(
            "How well does the response serve the user's request: correctness, helpfulness, "
            "completeness and clarity, judged against what a careful expert would write?"
        ),
        scores={
            "1-2": "Very poor: the response is nonsensical, off-topic, or fundamentally wrong.",
            "3-4": "Poor: the response attempts the request but has serious mistakes or leaves out what matters most.",
            "5-6": "Fair: the response is on topic and partly right, but it is incomplete or has noticeable errors.",
            "7-8": "Good: the response is correct and helpful; a few details could be sharper or more complete.",
            "9-10": "Excellent: the response is correct, complete, clear and well suited to the request; little to improve.",
        },
    ),
    "mt_bench": Rubric(
        criterion=(
            "Rate the quality of the assistant's reply to the user's last message: helpfulness, "
            "relevance, accuracy, depth and level of detail; be objective and do not reward length."
        ),
        scores={
            1: "Useless or harmful: no relevant or correct content.",
            2: "Almost entirely wrong or irrelevant; a trace of relevant content at most.",
            3: "Mostly wrong or unhelpful, though it engages with the question.",
            4: "Some correct content, but major errors or gaps make it unreliable.",
            5: "Mixed: a reasonable attempt with significant errors or omissions.",
            6: "Acceptable: basically correct but shallow or with noticeable flaws.",
            7: "Good: correct and relevant, with minor flaws or missing detail.",
            8: "Very good: accurate, relevant and reasonably thorough.",
            9: "Excellent: accurate, thorough and well explained, hardly anything to add.",
            10: "Outstanding: flawless, insightful and precisely what the user needed.",
        },
    ),
}
