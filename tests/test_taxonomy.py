"""Built-in taxonomies, user taxonomy loading and lenient label resolution."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

import memcollab_langgraph.taxonomy as taxonomy_module
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import CategoryPath
from memcollab_langgraph.taxonomy import Taxonomy, builtin_taxonomies, get_taxonomy, load_taxonomy

MATH_SUBJECTS = [
    "prealgebra",
    "algebra",
    "number_theory",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "precalculus",
]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(taxonomy_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_math_has_exactly_the_seven_math_subjects_with_subcategories() -> None:
    math = get_taxonomy("math")
    assert list(math.domains) == ["math"]
    assert list(math.domains["math"].categories) == MATH_SUBJECTS
    for name, cat in math.domains["math"].categories.items():
        assert len(cat.subcategories) >= 4, name
        assert cat.description, name
        assert all(cat.subcategories.values()), name


@pytest.mark.parametrize(
    "path",
    [
        "math/prealgebra/arithmetic_word_problems",
        "math/prealgebra/percentages",
        "math/prealgebra/rates",
        "math/algebra/equation_word_problems",
        "code/strings/manipulation",
        "code/lists_arrays/sorting",
        "code/algorithms_dp/dynamic_programming",
        "code/parsing/brackets_nesting",
        "code/data_structures/dictionaries_hashing",
        "code/math/number_theory",
    ],
)
def test_default_taxonomy_has_gsm8k_and_code_paths(path: str) -> None:
    p = CategoryPath.parse(path)
    assert get_taxonomy("default").validate_path(p) == p


def test_every_builtin_path_is_a_valid_category_path() -> None:
    for name in builtin_taxonomies():
        tax = get_taxonomy(name)
        for p in tax.paths():
            assert CategoryPath.parse(str(p)) == p
            tax.validate_path(p)
    assert {"math", "code"} == set(get_taxonomy("default").domains)


def test_unknown_builtin_name_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"'physics'.*\['code', 'math', 'default'\]"):
        get_taxonomy("physics")


def test_validate_path_names_the_bad_segment_and_a_suggestion() -> None:
    tax = get_taxonomy("math")
    with pytest.raises(ConfigurationError, match=r"unknown subcategory 'quadratic'.*did you mean 'quadratics'"):
        tax.validate_path(CategoryPath(domain="math", category="algebra", subcategory="quadratic"))
    with pytest.raises(ConfigurationError, match=r"unknown category 'calculus'"):
        tax.validate_path(CategoryPath(domain="math", category="calculus"))
    with pytest.raises(ConfigurationError, match=r"unknown domain 'code'"):
        tax.validate_path(CategoryPath(domain="code"))


def test_paths_and_leaves() -> None:
    tax = get_taxonomy("code")
    every, leaves = tax.paths(), tax.paths(leaves_only=True)
    assert CategoryPath(domain="code", category="strings") in every
    assert CategoryPath(domain="code", category="strings") not in leaves
    assert all(p.subcategory for p in leaves)
    assert len(every) == len(leaves) + len(tax.domains["code"].categories)
    assert get_taxonomy("default").paths("code") == every


def test_render_lists_categories_with_descriptions_for_one_domain() -> None:
    text = get_taxonomy("default").render("code")
    assert "- strings: building, transforming and inspecting text" in text
    assert "  - dynamic_programming: overlapping subproblems" in text
    assert "prealgebra" not in text
    with pytest.raises(ConfigurationError, match="'biology'"):
        get_taxonomy("default").render("biology")


@pytest.mark.parametrize(
    ("label", "domain", "expected"),
    [
        ("Number Theory", None, "math/number_theory"),
        ("number_theory", None, "math/number_theory"),
        ("  Counting & Probability.", None, "math/counting_and_probability"),
        ("Pre-Algebra", None, "math/prealgebra"),
        ("Intermediate Algebra > Complex Numbers", None, "math/intermediate_algebra/complex_numbers"),
        ("math/algebra/Linear Equations", None, "math/algebra/linear_equations"),
        ("percentages", None, "math/prealgebra/percentages"),
        ("geometery", None, "math/geometry"),
        ("algebra / something unknown", None, "math/algebra"),
        ("math", None, "math"),
        ("math", "code", "code/math"),
        ("Dynamic Programming", None, "code/algorithms_dp/dynamic_programming"),
        ("number theory", "code", "code/math/number_theory"),
        ("astrology", None, None),
        ("", None, None),
        ("a/b/c/d", None, None),
        # "sequences" is a subcategory of code/math only; "trigonometry" of math/precalculus only
        ("sequences", None, "code/math/sequences"),
        ("Trigonometry", None, "math/precalculus/trigonometry"),
    ],
)
def test_resolve_is_lenient_but_returns_none_when_unknown(label: str, domain: str | None, expected: str | None) -> None:
    got = get_taxonomy("default").resolve(label, domain)
    assert (str(got) if got else None) == expected


def test_resolve_returns_none_when_ambiguous() -> None:
    tax = load_taxonomy(
        {
            "name": "t",
            "domains": {"d": {"categories": {"a": {"subcategories": ["x"]}, "b": {"subcategories": ["x"]}}}},
        }
    )
    assert tax.resolve("x") is None
    assert str(tax.resolve("b/x")) == "d/b/x"


USER_TAXONOMY = {
    "name": "tickets",
    "domains": {
        "billing": {
            "description": "invoices and payments",
            "categories": {
                "refunds": {
                    "description": "refund requests",
                    "subcategories": {"partial": "part of an order"},
                },
                "invoices": "invoice questions",
                "cards": {"subcategories": ["expired", "declined"]},
            },
        }
    },
}


def test_load_from_dict_json_and_toml_agree(tmp_path: Path) -> None:
    from_dict = load_taxonomy(USER_TAXONOMY)
    json_path = tmp_path / "tickets.json"
    json_path.write_text(json.dumps(USER_TAXONOMY))
    toml_path = tmp_path / "tickets.toml"
    toml_path.write_text(
        'name = "tickets"\n'
        "[domains.billing]\n"
        'description = "invoices and payments"\n'
        "[domains.billing.categories.refunds]\n"
        'description = "refund requests"\n'
        'subcategories = { partial = "part of an order" }\n'
        "[domains.billing.categories]\n"
        'invoices = "invoice questions"\n'
        'cards = { subcategories = ["expired", "declined"] }\n'
    )
    assert load_taxonomy(json_path) == from_dict
    assert load_taxonomy(str(toml_path)) == from_dict
    assert from_dict.domains["billing"].categories["invoices"].description == "invoice questions"
    assert from_dict.domains["billing"].categories["cards"].subcategories == {"expired": "", "declined": ""}
    assert str(from_dict.resolve("Cards / Declined")) == "billing/cards/declined"


def test_file_name_is_the_default_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"domains": USER_TAXONOMY["domains"]}))
    assert load_taxonomy(path).name == "mine"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "t", "domains": {"math": {"categories": {"Number Theory": "x"}}}},
            r"domains\.math\.categories.*'Number Theory'.*'number_theory'",
        ),
        (
            {"name": "t", "domains": {"math": {"categories": {"algebra": {"subcategories": ["Linear Eq"]}}}}},
            r"subcategory.*'Linear Eq'.*'linear_eq'",
        ),
        ({"name": "t", "domains": {}}, r"at domains: .*at least one domain"),
        ({"name": "t"}, r"at domains: Field required"),
        (
            {"name": "t", "domains": {"math": {"categories": {"a": 3}}}},
            r"domains\.math\.categories\.a.*\(got 3\)",
        ),
        ({"name": "t", "domains": {"math": {"categories": {"a": "x"}, "extra": 1}}}, r"domains\.math\.extra"),
    ],
)
def test_load_errors_name_the_location_and_value(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_taxonomy(data)


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read taxonomy file .*missing\.json"):
        load_taxonomy(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigurationError, match=r"bad\.toml.*not valid TOML"):
        load_taxonomy(bad)
    yml = tmp_path / "t.yaml"
    yml.write_text("name: t")
    with pytest.raises(ConfigurationError, match=r"unsupported file type '\.yaml'.*\.json or \.toml"):
        load_taxonomy(yml)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="got list"):
        load_taxonomy(listing)


def test_union_of_taxonomies() -> None:
    both = get_taxonomy("math") + load_taxonomy(USER_TAXONOMY)
    assert set(both.domains) == {"math", "billing"}
    assert both.name == "math+tickets"
    with pytest.raises(ConfigurationError, match=r"both define domain\(s\) \['math'\]"):
        get_taxonomy("math") + get_taxonomy("default")


def test_taxonomy_is_a_pydantic_model_that_round_trips() -> None:
    tax = get_taxonomy("default")
    assert Taxonomy.model_validate_json(tax.model_dump_json()) == tax
