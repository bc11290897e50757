"""How well the story check finds constraints that restate their training task, on annotated banks.

Reads the annotated GSM8K constraints of the full local run and of the distiller prompt probes
(``docs/results/``), applies :class:`~memcollab_langgraph.nodes.story.StoryCheck` with the GSM8K
training file as reference, and compares its rejections with the annotators' ``specific`` label
("restates the training problem's own story"). Writes ``docs/results/story-check/summary.json`` and
prints the tables quoted in ``docs/results.md``.

Two sets: the probe annotations (the first 30 training tasks: the as-run bank and the v2/v3 prompt
banks) and the full-run banks' constraints of the other 70 tasks. The defaults, chosen on GSM8K, are
then applied unchanged to the full run's annotated MBPP bank (reference: the whole MBPP training file):
a test on data that played no part in choosing them. Usage::

    python scripts/measure_story_check.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memcollab_langgraph.nodes.story import StoryCheck
from memcollab_langgraph.tasks import load_tasks

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
FULL_RUN = RESULTS / "eval-local-qwen" / "constraint-labels-gsm8k.jsonl"
FULL_RUN_MBPP = RESULTS / "eval-local-qwen" / "constraint-labels-mbpp.jsonl"
PROBES = [RESULTS / "distill-probe-gsm8k" / f"annotation-as-run-vs-{v}.jsonl" for v in ("v2", "v3")]
FRACTIONS = (0.005, 0.01, 0.02, 0.05)
MAX_WORDS = (0, 1, 2)


def _read(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["label"] != "echo"]  # echoes of the prompt are rejected by another check


def _text(row: dict[str, Any]) -> str:
    return f"When {row['when']}, enforce {row['enforce']}; avoid {row['avoid']}."


def score(check: StoryCheck, rows: Sequence[dict[str, Any]], questions: dict[str, str]) -> dict[str, int]:
    """Rejections against the annotation: how many specific ones were caught, and what else was lost."""
    rejected = [r for r in rows if check.reason(_text(r), questions[r["source_task_ids"][0]]) is not None]
    labels = Counter(r["label"] for r in rows)
    caught = Counter(r["label"] for r in rejected)
    return {
        "constraints": len(rows),
        "rejected": len(rejected),
        "specific": labels["specific"],
        "specific_rejected": caught["specific"],
        "useful": labels["useful"],
        "useful_rejected": caught["useful"],
        "vacuous_rejected": caught["vacuous"],
    }


def _line(name: str, s: dict[str, int]) -> str:
    precision = s["specific_rejected"] / s["rejected"] if s["rejected"] else float("nan")
    return (
        f"| {name} | {s['constraints']} | {s['rejected']} | {s['specific_rejected']}/{s['specific']} "
        f"| {precision:.0%} | {s['useful_rejected']}/{s['useful']} | {s['vacuous_rejected']} |"
    )


def _header(first: str) -> Iterable[str]:
    columns = ("constraints", "rejected", "restatements caught", "of the rejected, restatements", "useful lost")
    yield f"| {first} | {' | '.join(columns)} | vacuous rejected |"
    yield "|---|---|---|---|---|---|---|"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="GSM8K and MBPP files")
    args = parser.parse_args()
    train = load_tasks(args.data / "gsm8k_train.jsonl", format="gsm8k")
    questions = {t.id: t.question for t in train}
    first30 = {t.id for t in train[:30]}
    full = _read(FULL_RUN)
    sets = {
        "probes (tasks 0-29)": [r for path in PROBES for r in _read(path)],
        "full run (tasks 30-99)": [r for r in full if not set(r["source_task_ids"]) & first30],
    }
    whole = [t.question for t in train]
    out: dict[str, Any] = {
        "reference": "gsm8k_train.jsonl",
        "grid": [],
        "default": {},
        "reference_size": {},
        "mbpp": {},
    }
    print("## rare_fraction x max_story_words (reference: the whole training file)\n")
    for name, rows in sets.items():
        print(f"### {name}\n")
        print("\n".join(_header("rare_fraction, max_story_words")))
        for fraction in FRACTIONS:
            for words in MAX_WORDS:
                check = StoryCheck.from_texts(whole, rare_fraction=fraction, max_story_words=words)
                s = score(check, rows, questions)
                out["grid"].append({"set": name, "rare_fraction": fraction, "max_story_words": words, **s})
                print(_line(f"{fraction}, {words} (limit {check.rare_limit})", s))
        print()
    default = StoryCheck.from_texts(whole)
    print("## the defaults, per full-run bank (all 100 tasks)\n")
    print("\n".join(_header("bank")))
    for bank in sorted({r["bank"] for r in full}):
        s = score(default, [r for r in full if r["bank"] == bank], questions)
        out["default"][bank] = s
        print(_line(bank, s))
    print("\n## the defaults with a smaller reference (the first N training questions)\n")
    print("\n".join(_header("reference, set")))
    for size in (100, 300, 1000, len(whole)):
        check = StoryCheck.from_texts(whole[:size])
        for name, rows in sets.items():
            s = score(check, rows, questions)
            out["reference_size"].setdefault(str(size), {})[name] = s
            print(_line(f"{size} (limit {check.rare_limit}), {name}", s))
    mbpp = load_tasks(args.data / "mbpp_train.jsonl", format="mbpp")
    mbpp_check = StoryCheck.from_texts([t.question for t in mbpp])
    mbpp_questions = {t.id: t.question for t in mbpp}
    print("\n## the defaults on MBPP (reference: the whole mbpp_train.jsonl; thresholds not tuned on it)\n")
    print("\n".join(_header("bank")))
    rows = _read(FULL_RUN_MBPP)
    for bank in sorted({r["bank"] for r in rows}):
        s = score(mbpp_check, [r for r in rows if r["bank"] == bank], mbpp_questions)
        out["mbpp"][bank] = s
        print(_line(f"{bank} (limit {mbpp_check.rare_limit})", s))
    target = RESULTS / "story-check" / "summary.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten: {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
