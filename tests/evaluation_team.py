"""Counting fake models of a two-agent team, and running an evaluation on them.

The fakes (:class:`Team`) are deterministic and sometimes wrong: ``big`` always answers right,
``small`` only when its prompt carries constraints from the memory (or on the "easy" tasks), and
the distiller writes one abstract constraint per task. Every model call is counted by role, so
the tests can say exactly what a (re-)run did.
"""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai
from evaluation_data import BY_QUESTION
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.evaluation import EvalConfig, ItemResult, ResultsStore, RunSummary, run_evaluation
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.testing import FunctionChatModel

RULE = {
    "constraints": [
        {
            "when": "a quantity is given per container and several containers are asked about",
            "enforce": "multiply the amount per container by the number of containers",
            "avoid": "adding the amount per container to the number of containers",
            "category": "prealgebra",
            "subcategory": "arithmetic_word_problems",
        }
    ]
}


class Team:
    """Counting fakes for a two-agent team; ``crash_on``/``fail_on`` inject an error in small's solve of a
    task, ``down`` makes every solve fail as if the server were gone; ``log`` lists (role, task) in order."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.solved: list[tuple[str, str]] = []
        self.log: list[tuple[str, str]] = []
        self.down = False
        self.crash_on: str | None = None
        self.fail_on: str | None = None
        self.interrupt_on: str | None = None
        self.rule: dict[str, Any] = RULE
        self._lock = threading.Lock()

    def models(self) -> dict[str, BaseChatModel]:
        return {
            "big": FunctionChatModel(lambda m: self._reply("big", m), model_name="big-7b"),
            "small": FunctionChatModel(lambda m: self._reply("small", m), model_name="small-1b"),
        }

    def _reply(self, agent: str, messages: list[BaseMessage]) -> str:
        system = messages[0].text
        text = "\n".join(m.text for m in messages)
        task = next(t for q, t in BY_QUESTION.items() if q in text)
        if system.startswith("You label tasks"):
            role = "classify"
        elif system.startswith(("You compare", "You study")):
            role = "distill"
        else:
            role = "solve"
        with self._lock:
            self.calls[agent, role] += 1
            self.log.append((role, task["id"]))
            if role == "solve" and self.down:
                raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat"))
            if role == "solve":
                self.solved.append((agent, task["id"]))
                if agent == "small" and task["id"] == self.crash_on:
                    self.crash_on = None
                    raise RuntimeError("injected crash")
                if agent == "small" and task["id"] == self.interrupt_on:
                    self.interrupt_on = None
                    signal.raise_signal(signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread
                if agent == "small" and task["id"] == self.fail_on:
                    self.fail_on = None
                    raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat"))
        if role == "classify":
            return json.dumps({"category": "prealgebra", "subcategory": "arithmetic_word_problems"})
        if role == "distill":
            return json.dumps(self.rule)
        answer = task["answer"]
        if agent == "small" and "Constraints distilled" not in system and not task["metadata"]["easy"]:
            answer = str(int(answer) + 1)
        return f"Multiplying gives the total. \\boxed{{{answer}}}"

    def count(self, role: str) -> int:
        return sum(n for (_, r), n in self.calls.items() if r == role)


def evaluate(config: EvalConfig, team: Team, store: InMemoryStore, *, progress: bool = False) -> Path:
    with Runtime(config.team_for_run(), models=team.models(), store=store) as rt:
        return run_evaluation(config, rt, progress=progress)


def latest(run: Path) -> dict[tuple[str, ...], ItemResult]:
    return {tuple(r.key): r for r in ResultsStore(run.parent, run.name).latest()}


def report_of(run: Path) -> RunSummary:
    return RunSummary.model_validate_json((run / "results.json").read_text(encoding="utf-8"))
