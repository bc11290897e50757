"""Solver: answer a task with retrieved constraints in the prompt, over several reasoning turns.

One turn is one model call. After each reply :func:`~memcollab_langgraph.nodes.turns.plan_turn`
decides to stop, to run the visible tests (code) or the reply's Python block (math) in the sandbox
and feed the result back, or to ask again after an empty or answerless reply. The solve ends at a
final answer, at passing visible tests, or after ``max_turns`` calls; a feedback turn that the server
refuses because the conversation outgrew the model's context window ends it too (stop reason
``context_full``, the last answer kept), and with ``stop_on_repeat`` so does a reply whose program (or
text) is the previous reply's again (``repeated_answer``): it would get the same feedback, and a model
decoding greedily tends to answer that with the same program once more. The whole exchange is kept as a
:class:`~memcollab_langgraph.schema.Trajectory`; malformed replies never crash the node, they are
recorded in the transcript and in ``usage_log``. Errors *raised* by the model (network, rate limits,
a first prompt longer than the context) propagate, so that ``add_node(..., retry_policy=RetryPolicy(...))``
can retry the node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.types import Send

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.models import Agent, agents_by_name
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, effect, perform
from memcollab_langgraph.nodes.inputs import read_hits, read_task
from memcollab_langgraph.nodes.llm import ContextFull, ModelCall, chat_effect, chat_within_context_effect
from memcollab_langgraph.nodes.prompts import DEFAULT_CONSTRAINTS_PREAMBLE, solver_messages
from memcollab_langgraph.nodes.turns import StopReason, failed_tests_feedback, plan_turn, python_feedback
from memcollab_langgraph.schema import Trajectory, Usage
from memcollab_langgraph.verifiers import arun_python, averify_code, run_python, verify_code

__all__ = ["SolverSettings", "create_solver_node", "fan_out_to_agents", "route_after_solve"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


@dataclass(frozen=True, kw_only=True)
class SolverSettings:
    """Settings of :func:`create_solver_node`."""

    max_turns: int = 3
    python_tool: bool = True
    """Math: run a fenced Python block of the reply in the sandbox and show its output."""
    run_visible_tests: bool = True
    """Code: run the task's visible tests on the program and feed failures back."""
    sandbox_timeout_s: float = 10.0
    max_feedback_chars: int = 2000
    constraints_preamble: str = DEFAULT_CONSTRAINTS_PREAMBLE
    """What the system prompt says before the retrieved constraints."""
    stop_on_repeat: bool = False
    """End the solve when a reply's program (or, without one, its text) repeats the previous reply's."""

    def __post_init__(self) -> None:
        if not self.constraints_preamble.strip():
            raise ConfigurationError(
                "constraints_preamble must say what the constraints are (it precedes them in the system prompt), got ''"
            )
        if isinstance(self.max_turns, bool) or not isinstance(self.max_turns, int) or self.max_turns < 1:
            raise ConfigurationError(f"max_turns must be a positive int, got {self.max_turns!r}")
        if not self.sandbox_timeout_s > 0:
            raise ConfigurationError(f"sandbox_timeout_s must be positive, got {self.sandbox_timeout_s!r}")
        if self.max_feedback_chars < 100:
            raise ConfigurationError(f"max_feedback_chars must be at least 100, got {self.max_feedback_chars!r}")


def _as_dict(message: BaseMessage) -> dict[str, Any]:
    return {"role": _ROLES.get(message.type, message.type), "content": message.text}


def _pick_agent(agents: Mapping[str, Agent], state: Mapping[str, Any]) -> Agent:
    name = state.get("agent")
    if name is None:
        if len(agents) == 1:
            return next(iter(agents.values()))
        raise ConfigurationError(
            f"this solver serves several agents {sorted(agents)}; set state['agent'] to one of them "
            "(fan_out_to_agents does this for Send fan-out)"
        )
    if name not in agents:
        raise ConfigurationError(f"state['agent'] is {name!r}, but this solver serves {sorted(agents)}")
    return agents[str(name)]


def _program(
    agents: Mapping[str, Agent], settings: SolverSettings, state: Mapping[str, Any]
) -> Program[dict[str, Any]]:
    start = time.perf_counter()
    task = read_task(state)
    agent = _pick_agent(agents, state)
    hits = read_hits(state)
    messages = solver_messages(
        task, [h.constraint for h in hits], python_tool=settings.python_tool, preamble=settings.constraints_preamble
    )
    usage = Usage()
    calls: list[ModelCall] = []
    answer: str | None = None
    stop: StopReason = "max_turns"
    previous: str | None = None  # what the last reply offered: its program, else its text
    for turn in range(1, settings.max_turns + 1):
        if turn == 1:  # a task whose first prompt does not fit cannot be solved: that error propagates
            reply = yield from perform(chat_effect(agent.model, messages))
        else:
            outcome = yield from perform(chat_within_context_effect(agent.model, messages))
            if isinstance(outcome, ContextFull):
                stop = "context_full"
                break
            reply = outcome
        usage = usage + reply.usage
        plan = plan_turn(
            task, reply.text, python_tool=settings.python_tool, run_visible_tests=settings.run_visible_tests
        )
        messages.append(AIMessage(content=reply.text if plan.kept is None else plan.kept))
        calls.append(
            ModelCall(step="solve", agent=agent.name, usage=reply.usage, ok=plan.issue is None, reason=plan.issue)
        )
        answer = plan.answer if plan.answer is not None else answer
        if plan.action == "stop":
            stop = "final_answer"
            break
        if turn == settings.max_turns:
            break  # no call would read the feedback: do not run it
        offered = plan.program if plan.program is not None else reply.text
        if settings.stop_on_repeat and offered == previous:
            stop = "repeated_answer"  # the same feedback would follow: end here, not one call later
            break
        previous = offered
        if plan.action == "run_tests":
            verdict = yield from perform(
                effect(
                    verify_code,
                    averify_code,
                    task,
                    plan.program,
                    visible_only=True,
                    timeout_s=settings.sandbox_timeout_s,
                )
            )
            if verdict.correct:
                stop = "passed_visible_tests"
                break
            feedback = failed_tests_feedback(verdict, max_chars=settings.max_feedback_chars)
        elif plan.action == "run_python":
            result = yield from perform(
                effect(run_python, arun_python, plan.program or "", timeout_s=settings.sandbox_timeout_s)
            )
            feedback = python_feedback(result, max_chars=settings.max_feedback_chars)
        else:
            feedback = plan.feedback or ""
        messages.append(HumanMessage(content=feedback))
    trajectory = Trajectory(
        task_id=task.id,
        agent=agent.ref,
        messages=[_as_dict(m) for m in messages],
        answer=answer,
        turns=len(calls),
        usage=usage,
        latency_s=time.perf_counter() - start,
        sample_index=int(state.get("sample_index") or 0),
    )
    return {
        "trajectory": trajectory,
        "trajectories": [trajectory],
        "stop_reason": stop,
        "usage_log": calls,
    }


def create_solver_node(
    agent: Agent | Sequence[Agent],
    *,
    max_turns: int = 3,
    python_tool: bool = True,
    run_visible_tests: bool = True,
    sandbox_timeout_s: float = 10.0,
    max_feedback_chars: int = 2000,
    constraints_preamble: str = DEFAULT_CONSTRAINTS_PREAMBLE,
    stop_on_repeat: bool = False,
    name: str = "solve",
) -> NodeRunnable:
    """A node in which an agent solves ``state["task"]`` with the retrieved constraints in its prompt.

    Reads ``task``, ``hits`` (optional; their constraints are rendered into the system prompt),
    ``agent`` (which agent solves, required when the node serves several) and ``sample_index``.
    Writes ``trajectory`` and ``trajectories`` (the same trajectory as a one-item list, for the
    fan-out reducer of :class:`~memcollab_langgraph.nodes.state.BuildState`; a graph keeps whichever
    key its state has), ``stop_reason`` and ``usage_log`` (one :class:`ModelCall` per turn).

    Args:
        agent: The agent, or several agents (one graph node serving a Send fan-out).
        max_turns: Model calls at most; 1 disables feedback.
        python_tool: Math: run a fenced Python block of the reply in the sandbox and feed its output back.
        run_visible_tests: Code: run ``Task.visible_tests`` and feed failures back.
        sandbox_timeout_s: Wall-clock limit of each sandboxed run.
        max_feedback_chars: Feedback longer than this is clipped (head and tail kept).
        constraints_preamble: What the system prompt says before the retrieved constraints.
        stop_on_repeat: End the solve, keeping its answer, when a reply offers the same program (or
            text) as the reply before it instead of calling the model again with the same feedback.
        name: The runnable's name.

    Raises:
        ConfigurationError: Bad settings or agents; at run time, a missing task or an unknown agent.

    Example:
        >>> from memcollab_langgraph.schema import Task
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(["3 + 4 = 7, so the answer is \\\\boxed{7}."])
        >>> task = Task(id="t", domain="math", question="3 + 4?")
        >>> update = create_solver_node(Agent(name="small", model=model)).invoke({"task": task})
        >>> update["trajectory"].answer, update["trajectory"].turns, update["stop_reason"]
        ('7', 1, 'final_answer')
    """
    agents = agents_by_name(agent)
    settings = SolverSettings(
        max_turns=max_turns,
        python_tool=python_tool,
        run_visible_tests=run_visible_tests,
        sandbox_timeout_s=sandbox_timeout_s,
        max_feedback_chars=max_feedback_chars,
        constraints_preamble=constraints_preamble,
        stop_on_repeat=stop_on_repeat,
    )
    return as_node(name, lambda state: _program(agents, settings, state))


def route_after_solve(state: Mapping[str, Any]) -> Literal["verify", "__end__"]:
    """``"verify"`` when the task has ground truth (an answer or tests) and was attempted, else END."""
    task = read_task(state)
    has_truth = bool(task.answer or task.tests or (task.entry_point and task.test_setup))
    attempted = state.get("trajectory") is not None or bool(state.get("trajectories"))
    return "verify" if has_truth and attempted else "__end__"


def fan_out_to_agents(
    agents: Sequence[Agent | str], *, node: str = "solve", samples: int = 1
) -> Callable[[Mapping[str, Any]], list[Send]]:
    """A routing function sending the task to ``node`` once per agent (and sample), for parallel solves.

    Each ``Send`` carries ``task``, ``agent``, ``sample_index`` and, when present, ``category`` and
    ``hits``. Use it with ``graph.add_conditional_edges(source, fan_out_to_agents(agents), [node])``
    and a solver created with all the agents; the trajectories meet in ``BuildState.trajectories``.
    ``samples > 1`` sends each agent several times (self-contrast; give the agents a sampling model).

    Raises:
        ConfigurationError: No agents, or ``samples < 1``.
    """
    names = [a.name if isinstance(a, Agent) else a for a in agents]
    if not names:
        raise ConfigurationError("fan_out_to_agents needs at least one agent")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigurationError(f"samples must be a positive int, got {samples!r}")

    def route(state: Mapping[str, Any]) -> list[Send]:
        base = {key: state[key] for key in ("task", "category", "hits") if state.get(key) is not None}
        return [Send(node, {**base, "agent": name, "sample_index": i}) for name in names for i in range(samples)]

    return route
