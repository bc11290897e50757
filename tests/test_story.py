"""The story check: constraints that retell their task's situation in words are rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcollab_langgraph.cli import app
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.nodes.story import MIN_REFERENCE_TASKS, StoryCheck, audit_constraints, choose_story_check
from memcollab_langgraph.schema import CategoryPath, Constraint, Provenance
from memcollab_langgraph.store import ChromaStore

# A reference corpus of word problems: prices, discounts and totals are common, cheese is not.
COMMON = [
    f"A shop sells {n} items at a price of {n + 2} dollars each with a discount. What is the total cost?"
    for n in range(140)
]
RARE = [
    "Jim buys cream cheese and cheddar cheese. Cream cheese costs half the price of cheddar. Total?",
    "A farmer plants tulips in rows of 8. How many tulips are planted?",
]
REFERENCE = COMMON + RARE
QUESTION = RARE[0]
RETOLD = {
    "when": "the price of cream cheese is half the price of cheddar cheese",
    "enforce": "halve the cheddar price",
    "avoid": "doubling it",
}
GENERAL = {
    "when": "one item's price is a fraction of another item's price",
    "enforce": "multiply the known price by the fraction before adding to the total cost",
    "avoid": "adding the fraction to the price",
}


def _text(rule: dict[str, str]) -> str:
    return f"When {rule['when']}, enforce {rule['enforce']}; avoid {rule['avoid']}."


def test_a_constraint_retelling_its_tasks_story_is_rejected_with_the_words_that_gave_it_away() -> None:
    check = StoryCheck.from_texts(REFERENCE)
    assert check.story_words(_text(RETOLD), QUESTION) == ["cheddar", "cheese", "cream", "half"]
    reason = check.reason(_text(RETOLD), QUESTION)
    assert reason is not None
    assert "shares the rare words ['cheddar', 'cheese', 'cream', 'half']" in reason
    assert f"at most 1 of the {len(REFERENCE)} reference tasks" in reason


def test_a_constraint_in_words_that_many_tasks_share_passes() -> None:
    check = StoryCheck.from_texts(REFERENCE)
    assert check.story_words(_text(GENERAL), QUESTION) == []  # price, total, cost: in 140 of 142 questions
    assert check.reason(_text(GENERAL), QUESTION) is None


def test_rare_words_of_another_task_are_not_the_sources_story() -> None:
    check = StoryCheck.from_texts(REFERENCE)
    tulips = "When tulips are planted in rows, enforce multiplying rows by tulips per row; avoid adding them."
    assert check.story_words(tulips, QUESTION) == []
    assert check.story_words(tulips, RARE[1]) == ["planted", "row", "tulip"]  # plurals are folded, not verbs


def test_max_story_words_is_how_many_rare_words_may_be_shared() -> None:
    one = "When cheddar is bought for a price, enforce multiply the price by the count; avoid adding them."
    assert StoryCheck.from_texts(REFERENCE).reason(one, QUESTION) is None  # one rare word: allowed by default
    assert StoryCheck.from_texts(REFERENCE, max_story_words=0).reason(one, QUESTION) is not None
    assert StoryCheck.from_texts(REFERENCE, max_story_words=4).reason(_text(RETOLD), QUESTION) is None


def test_rare_fraction_scales_with_the_reference() -> None:
    assert StoryCheck.from_texts(REFERENCE, rare_fraction=0.02).rare_limit == 2  # floor(0.02 x 142)
    discount = ("When a discount is given on a price", "A discount of 2 dollars on the price.")
    assert StoryCheck.from_texts(REFERENCE).story_words(*discount) == []  # in 140 and 141 of 142 questions
    wide = StoryCheck.from_texts(REFERENCE, rare_fraction=0.99)
    assert wide.rare_limit == 140
    assert wide.story_words(*discount) == ["discount"]


def test_numbers_are_left_to_the_abstraction_check() -> None:
    check = StoryCheck.from_texts(REFERENCE, max_story_words=0)
    assert check.document_frequency["0"] == 1  # rare in the reference, but not a story word
    assert check.story_words("When 0 tulips are left", RARE[1].replace("8", "0")) == ["tulip"]


def test_too_small_a_reference_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=rf"at least {MIN_REFERENCE_TASKS} task questions.*got 99"):
        StoryCheck.from_texts(REFERENCE[:99])


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"rare_fraction": 0.0}, r"rare_fraction must be in \(0, 1\).*got 0\.0"),
        ({"rare_fraction": 1.5}, r"rare_fraction must be in \(0, 1\).*got 1\.5"),
        ({"max_story_words": -1}, r"max_story_words must be an int >= 0.*got -1"),
        ({"max_story_words": True}, r"max_story_words must be an int >= 0.*got True"),
    ],
)
def test_bad_thresholds_are_refused(settings: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        StoryCheck.from_texts(REFERENCE, **settings)  # type: ignore[arg-type]


def test_the_description_changes_with_the_reference_and_the_thresholds() -> None:
    base = StoryCheck.from_texts(REFERENCE).describe()
    assert base == StoryCheck.from_texts(list(reversed(REFERENCE))).describe()  # the order does not matter
    assert base["reference_size"] == len(REFERENCE)
    other = [*REFERENCE[:-1], "A baker sells muffins. How many are left?"]
    assert StoryCheck.from_texts(other).describe()["reference_digest"] != base["reference_digest"]
    assert StoryCheck.from_texts(REFERENCE, max_story_words=2).describe() != base


def test_choose_story_check_decides_from_the_setting_and_the_reference_size() -> None:
    check, note = choose_story_check(None, REFERENCE, origin="train.jsonl")
    assert check is not None
    assert f"1 of the {len(REFERENCE)} questions of train.jsonl" in note
    small, note = choose_story_check(None, REFERENCE[:12], origin="demo.jsonl")
    assert small is None
    assert "demo.jsonl has 12 task questions, fewer than the 100" in note
    assert "story_reference" in note  # the fix
    off, note = choose_story_check(False, REFERENCE, origin="train.jsonl")
    assert off is None
    assert "story_check = false" in note
    with pytest.raises(ConfigurationError, match=r"story_check = true, reference demo\.jsonl.*got 12"):
        choose_story_check(True, REFERENCE[:12], origin="demo.jsonl")


# -- auditing a bank built without the check --------------------------------------------------------

RATES = CategoryPath(domain="math", category="prealgebra", subcategory="rates")


def _stored(rule: dict[str, str], *sources: str) -> Constraint:
    return Constraint(**rule, category=RATES, provenance=Provenance(source_task_ids=list(sources)))


def test_an_audit_finds_the_constraints_that_retell_each_of_their_source_tasks() -> None:
    questions = {"cheese": QUESTION, "tulips": RARE[1]}
    retold = _stored(RETOLD, "cheese")
    general = _stored(GENERAL, "cheese")
    shared = _stored(RETOLD, "cheese", "tulips")  # also distilled from another task: reusable
    manual = _stored(RETOLD)
    found = audit_constraints([retold, general, shared, manual], StoryCheck.from_texts(REFERENCE), questions)
    assert found.retold == [(retold, ["cheddar", "cheese", "cream", "half"])]
    assert found.passed == [general, shared]
    assert found.unchecked == [manual]


def _write_tasks(path: Path) -> Path:
    rows = [{"id": f"r{i}", "domain": "math", "question": q} for i, q in enumerate(REFERENCE)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_audit_command_lists_and_archives_retold_constraints(tmp_path: Path) -> None:
    tasks = _write_tasks(tmp_path / "train.jsonl")
    source = f"r{len(COMMON)}"  # the cheese question
    store = ChromaStore(path=tmp_path / "chroma", collection_name="memcollab")
    bank = MemoryBank(store, name="audited")
    bank.add_many([_stored(RETOLD, source), _stored(GENERAL, source)])
    store.close()
    config = tmp_path / "team.toml"
    config.write_text(
        '[memory]\nstore = "chroma"\nbank = "audited"\n\n[[agents]]\nname = "a"\nbase_url = "http://127.0.0.1:9/v1"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["audit", "-c", str(config), "-t", str(tasks), "--json"])
    assert listed.exit_code == 0, listed.output
    report = json.loads(listed.stdout)
    assert [r["constraint"]["when"] for r in report["retold"]] == [RETOLD["when"]]
    assert (report["passed"], report["archived"]) == (1, [])
    shown = runner.invoke(app, ["audit", "-c", str(config), "-t", str(tasks)])
    assert "1 of 2 constraints retell their training task, 1 pass" in " ".join(shown.stdout.split())

    archived = runner.invoke(app, ["audit", "-c", str(config), "-t", str(tasks), "--archive", "--json"])
    assert json.loads(archived.stdout)["archived"] == [report["retold"][0]["constraint"]["id"]]
    store = ChromaStore(path=tmp_path / "chroma", collection_name="memcollab")
    bank = MemoryBank(store, name="audited")
    assert [c.when for c in bank.list_constraints()] == [GENERAL["when"]]  # the other is kept, archived
    assert [c.when for c in bank.list_constraints(statuses=["archived"])] == [RETOLD["when"]]
    store.close()

    few = _write_tasks(tmp_path / "few.jsonl")
    few.write_text("".join(few.read_text().splitlines(keepends=True)[:20]), encoding="utf-8")
    refused = runner.invoke(app, ["audit", "-c", str(config), "-t", str(few)])
    assert refused.exit_code == 2
    refusal = " ".join(refused.stderr.split())
    assert "cannot audit: story check off: few.jsonl has 20 task questions" in refusal
    assert "set [distiller] story_reference" in refusal  # the fix, not eaten as console markup
