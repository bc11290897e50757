"""Task taxonomies: the ``domain / category / subcategory`` labels that constraints carry.

MemCollab retrieves memory *by task category*: a constraint distilled from a counting problem should
reach counting problems, not geometry ones. A :class:`Taxonomy` lists the allowed labels with one-line
descriptions (the descriptions go into classifier prompts), validates :class:`CategoryPath` values,
and maps a model's free-form label ("Number Theory") back to a slug (``number_theory``).

Two taxonomies ship with the library, ``"math"`` (the seven MATH subjects; GSM8K word problems fit
under ``prealgebra`` and ``algebra``) and ``"code"`` (MBPP / HumanEval style programming tasks), plus
``"default"``, their union. Users load their own from a dict, a JSON file or a TOML file::

    name = "support-tickets"
    [domains.billing]
    description = "Questions about invoices and payments"
    [domains.billing.categories.refunds]
    description = "Refund requests and their rules"
    subcategories = { partial = "Part of an order", late = "After the refund window" }

A category may also be given as a bare description string, and ``subcategories`` as a list of slugs.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memcollab_langgraph._validation import location, refused_value
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import CategoryPath

__all__ = [
    "Taxonomy",
    "TaxonomyCategory",
    "TaxonomyDomain",
    "builtin_taxonomies",
    "get_taxonomy",
    "load_taxonomy",
]


def _check_slug(value: str, level: str) -> str:
    # Reuse CategoryPath's validator so the rule (and its suggested fix) lives in one place.
    try:
        CategoryPath(domain=value)
    except ValidationError as e:
        raise ValueError(f"{level} {e.errors()[0]['msg']}") from None
    return value


class TaxonomyCategory(BaseModel):
    """A category of a domain, with its subcategories (slug -> one-line description)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    subcategories: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"description": data}
        if isinstance(data, Mapping) and isinstance(data.get("subcategories"), list):
            return {**data, "subcategories": dict.fromkeys(data["subcategories"], "")}
        return data

    @field_validator("subcategories")
    @classmethod
    def _slugs(cls, value: dict[str, str]) -> dict[str, str]:
        for slug in value:
            _check_slug(slug, "subcategory")
        return value


class TaxonomyDomain(BaseModel):
    """A domain (``math``, ``code``...) and its categories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    categories: dict[str, TaxonomyCategory]

    @field_validator("categories")
    @classmethod
    def _slugs(cls, value: dict[str, TaxonomyCategory]) -> dict[str, TaxonomyCategory]:
        if not value:
            raise ValueError("a domain needs at least one category")
        for slug in value:
            _check_slug(slug, "category")
        return value


class Taxonomy(BaseModel):
    """Allowed task labels, ``domain -> category -> subcategory``, with descriptions for prompts.

    Example:
        >>> tax = get_taxonomy("math")
        >>> tax.resolve("Number Theory")
        CategoryPath(domain='math', category='number_theory', subcategory=None)
        >>> str(tax.resolve("counting & probability / expected value"))
        'math/counting_and_probability/expected_value'
        >>> tax.resolve("astrology") is None
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    domains: dict[str, TaxonomyDomain]

    @field_validator("domains")
    @classmethod
    def _slugs(cls, value: dict[str, TaxonomyDomain]) -> dict[str, TaxonomyDomain]:
        if not value:
            raise ValueError("a taxonomy needs at least one domain")
        for slug in value:
            _check_slug(slug, "domain")
        return value

    def __add__(self, other: Taxonomy) -> Taxonomy:
        """The union of two taxonomies over disjoint domains."""
        shared = sorted(set(self.domains) & set(other.domains))
        if shared:
            raise ConfigurationError(
                f"cannot combine taxonomies {self.name!r} and {other.name!r}: both define domain(s) "
                f"{shared}; rename one of them or merge the categories into a single taxonomy"
            )
        return Taxonomy(name=f"{self.name}+{other.name}", domains={**self.domains, **other.domains})

    def validate_path(self, path: CategoryPath) -> CategoryPath:
        """Return ``path`` unchanged if every segment exists in this taxonomy.

        Raises:
            ConfigurationError: Naming the unknown segment, the closest known label and the valid ones.
        """
        domain = self.domains.get(path.domain)
        if domain is None:
            raise _unknown("domain", path.domain, path, self.domains, self.name)
        if path.category is None:
            return path
        category = domain.categories.get(path.category)
        if category is None:
            raise _unknown("category", path.category, path, domain.categories, self.name)
        if path.subcategory is not None and path.subcategory not in category.subcategories:
            raise _unknown("subcategory", path.subcategory, path, category.subcategories, self.name)
        return path

    def paths(self, domain: str | None = None, *, leaves_only: bool = False) -> list[CategoryPath]:
        """Every category and subcategory path, in taxonomy order.

        Args:
            domain: Only this domain's paths.
            leaves_only: Only the most specific paths (subcategories, or categories without any).
        """
        out: list[CategoryPath] = []
        for d, dom in self._domains(domain).items():
            for c, cat in dom.categories.items():
                if not (leaves_only and cat.subcategories):
                    out.append(CategoryPath(domain=d, category=c))
                out.extend(CategoryPath(domain=d, category=c, subcategory=s) for s in cat.subcategories)
        return out

    def render(self, domain: str | None = None) -> str:
        """The labels as an indented text list, for a classifier prompt.

        Example:
            >>> print(get_taxonomy("math").render().splitlines()[1])
            - prealgebra: arithmetic, fractions, percentages, rates and everyday word problems
        """
        lines: list[str] = []
        for d, dom in self._domains(domain).items():
            lines.append(f"{d}: {dom.description}" if dom.description else d)
            for c, cat in dom.categories.items():
                lines.append(f"- {c}: {cat.description}" if cat.description else f"- {c}")
                lines.extend(f"  - {s}: {desc}" if desc else f"  - {s}" for s, desc in cat.subcategories.items())
        return "\n".join(lines)

    def resolve(self, text: str, domain: str | None = None) -> CategoryPath | None:
        """Map a model's free-form label to a path of this taxonomy, or ``None`` when nothing fits.

        Accepts slugs or display names ("Counting & Probability", "pre-algebra"), full or partial
        paths separated by ``/``, ``>``, ``:`` or ``|``, and small typos. A label that matches
        several nodes equally well (the same subcategory name under two categories) gives ``None``
        unless ``domain`` narrows it down.

        Args:
            text: The label, for example ``"Number Theory / modular arithmetic"``.
            domain: Restrict the search to this domain.
        """
        segments = [s for s in (_squash(p) for p in re.split(r"[/>|:\\]+", text)) if s]
        if not segments or len(segments) > 3:
            return None
        # Rank every reading of the label: fewer typos, fewer ignored segments, coarser node first.
        found: dict[CategoryPath, tuple[int, int, int]] = {}
        for d, dom in self._domains(domain).items():
            readings = [(segments, 0)]
            head = _lookup(segments[0], [d])
            if head is not None:
                if len(segments) == 1:
                    found[CategoryPath(domain=d)] = (head[1], 0, 0)
                readings.append((segments[1:], head[1]))
            for segs, typos in readings:
                for path, score in _resolve_in_domain(d, dom, segs):
                    key = (score[0] + typos, score[1], score[2])
                    found[path] = min(found.get(path, key), key)
        if not found:
            return None
        best = min(found.values())
        winners = [p for p, score in found.items() if score == best]
        return winners[0] if len(winners) == 1 else None

    def _domains(self, domain: str | None) -> dict[str, TaxonomyDomain]:
        if domain is None:
            return self.domains
        if domain not in self.domains:
            raise _unknown("domain", domain, CategoryPath(domain=domain), self.domains, self.name)
        return {domain: self.domains[domain]}


def _squash(text: str) -> str:
    """Label key used for lenient matching: lower-case letters and digits only, ``&`` read as "and"."""
    return re.sub(r"[^a-z0-9]+", "", text.lower().replace("&", " and "))


def _lookup(segment: str, slugs: list[str]) -> tuple[str, int] | None:
    """The slug ``segment`` names and whether it took a typo correction (0 exact, 1 close match)."""
    keys = {_squash(s): s for s in slugs}
    if segment in keys:
        return keys[segment], 0
    close = difflib.get_close_matches(segment, list(keys), n=2, cutoff=0.85)
    return (keys[close[0]], 1) if len(close) == 1 else None


def _resolve_in_domain(
    d: str, dom: TaxonomyDomain, segments: list[str]
) -> list[tuple[CategoryPath, tuple[int, int, int]]]:
    """Readings of ``segments`` (category first) inside one domain, scored (typos, ignored, depth)."""
    if not segments:
        return []
    out: list[tuple[CategoryPath, tuple[int, int, int]]] = []
    cat = _lookup(segments[0], list(dom.categories))
    if cat is not None:
        slug, typos = cat
        sub = _lookup(segments[1], list(dom.categories[slug].subcategories)) if len(segments) > 1 else None
        if sub is not None:
            ignored = len(segments) - 2
            out.append((CategoryPath(domain=d, category=slug, subcategory=sub[0]), (typos + sub[1], ignored, 2)))
        else:
            # "algebra / something unknown": the category alone is still a useful answer.
            out.append((CategoryPath(domain=d, category=slug), (typos, len(segments) - 1, 1)))
    elif len(segments) == 1:
        for c, category in dom.categories.items():
            sub = _lookup(segments[0], list(category.subcategories))
            if sub is not None:
                out.append((CategoryPath(domain=d, category=c, subcategory=sub[0]), (sub[1], 0, 2)))
    return out


def _unknown(level: str, value: str, path: CategoryPath, known: Mapping[str, Any], name: str) -> ConfigurationError:
    hint = difflib.get_close_matches(value, list(known), n=1)
    did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
    return ConfigurationError(
        f"unknown {level} {value!r} in category path {str(path)!r} for taxonomy {name!r}; "
        f"{did_you_mean}known {level}s: {sorted(known)}. Use one of them or extend the taxonomy."
    )


# --- loading ------------------------------------------------------------------------------------


def load_taxonomy(source: Mapping[str, Any] | str | os.PathLike[str]) -> Taxonomy:
    """Load a user taxonomy from a mapping, a ``.json`` file or a ``.toml`` file.

    The expected shape is ``{"name": ..., "domains": {domain: {"description": ..., "categories":
    {category: {"description": ..., "subcategories": {subcategory: description}}}}}}``; see the
    module docstring for the shorthands.

    Raises:
        ConfigurationError: The file is missing or unreadable, or a value is invalid; the message
            names the offending location and value.
    """
    origin = "taxonomy mapping"
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source)
        origin = str(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml"):
            raise ConfigurationError(
                f"cannot load taxonomy from {origin!r}: unsupported file type {suffix or '(none)'!r}; "
                "use a .json or .toml file, or pass a dict"
            )
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigurationError(f"cannot read taxonomy file {origin!r}: {e.strerror or e}") from e
        try:
            data = tomllib.loads(raw) if suffix == ".toml" else json.loads(raw)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise ConfigurationError(f"taxonomy file {origin!r} is not valid {suffix[1:].upper()}: {e}") from e
        if isinstance(data, dict):
            data.setdefault("name", path.stem)
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{origin}: expected a table/object with 'name' and 'domains', got {type(data).__name__}"
        )
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigurationError(
            f"invalid taxonomy in {origin} at {location(err) or '(top level)'}: {err['msg']}{refused_value(err)}. "
            "Expected {'name': ..., 'domains': {domain: {'categories': {category: "
            "{'description': ..., 'subcategories': {slug: description}}}}}}"
        ) from None


# --- built-in taxonomies ---------------------------------------------------------------------------

_MATH: dict[str, Any] = {
    "description": "competition and grade-school mathematics (MATH subjects; GSM8K word problems)",
    "categories": {
        "prealgebra": {
            "description": "arithmetic, fractions, percentages, rates and everyday word problems",
            "subcategories": {
                "arithmetic_word_problems": "multi-step everyday quantities: money, items, time, ages",
                "fractions_decimals": "operations on and conversions between fractions and decimals",
                "percentages": "percent of, percent change, discounts, interest, tax",
                "ratios_proportions": "ratios, proportional scaling, sharing in a ratio",
                "rates": "speed, work, unit rates, pricing per unit",
                "unit_conversion": "converting lengths, times, volumes, currencies",
                "basic_statistics": "mean, median, mode, range of small data sets",
                "order_of_operations": "evaluating numeric expressions, exponents, parentheses",
            },
        },
        "algebra": {
            "description": "equations, inequalities, functions and expressions",
            "subcategories": {
                "linear_equations": "solving and setting up one-variable linear equations",
                "systems_of_equations": "two or more equations in several unknowns",
                "quadratics": "factoring, roots, vertex, discriminant",
                "inequalities": "linear and absolute-value inequalities",
                "functions": "evaluation, composition, inverses, domain and range",
                "exponents_radicals": "powers, roots, simplifying radical expressions",
                "arithmetic_sequences": "arithmetic and simple geometric progressions",
                "equation_word_problems": "word problems modelled by an equation in unknowns",
            },
        },
        "number_theory": {
            "description": "integers, divisibility and modular arithmetic",
            "subcategories": {
                "divisibility": "divisors, divisor counts, divisibility rules",
                "primes_factorization": "primes and prime factorization",
                "gcd_lcm": "greatest common divisor and least common multiple",
                "modular_arithmetic": "remainders, congruences, modular inverses",
                "number_bases": "writing and computing in bases other than ten",
                "digits": "digit sums, last digits, digit constraints",
            },
        },
        "counting_and_probability": {
            "description": "combinatorics and probability",
            "subcategories": {
                "permutations_combinations": "ordered and unordered selections and arrangements",
                "probability": "probability of events, complements, independence",
                "binomial_coefficients": "binomial theorem, Pascal's triangle, identities",
                "inclusion_exclusion": "overlapping sets and complementary counting",
                "casework": "splitting a count into disjoint cases",
                "expected_value": "expectation of random quantities",
            },
        },
        "geometry": {
            "description": "plane and solid geometry",
            "subcategories": {
                "triangles": "triangle properties, Pythagorean theorem, special triangles",
                "circles": "arcs, chords, tangents, inscribed angles, circle areas",
                "polygons_area": "area and perimeter of polygons and composite figures",
                "angles": "angle chasing, parallel lines, polygon angle sums",
                "similarity_congruence": "similar and congruent figures, scale factors",
                "coordinate_geometry": "points, lines, distances and shapes in coordinates",
                "solids_volume": "volume and surface area of three-dimensional solids",
            },
        },
        "intermediate_algebra": {
            "description": "polynomials, complex numbers and advanced algebra",
            "subcategories": {
                "polynomials": "roots, Vieta's formulas, division, remainder theorem",
                "complex_numbers": "arithmetic and modulus of complex numbers",
                "inequalities_optimization": "AM-GM, Cauchy-Schwarz, extremal values",
                "functional_equations": "finding functions from functional equations",
                "logarithms_exponentials": "logarithm rules, exponential equations",
                "sequences_series": "recursive sequences, sums, telescoping series",
                "conic_sections": "parabolas, ellipses, hyperbolas",
                "rational_functions": "asymptotes, partial fractions, rational equations",
            },
        },
        "precalculus": {
            "description": "trigonometry, vectors, matrices and the complex plane",
            "subcategories": {
                "trigonometry": "trigonometric values, equations and identities",
                "vectors": "vector arithmetic, dot and cross products, projections",
                "matrices_determinants": "matrix operations, determinants, inverses",
                "complex_plane": "polar form, roots of unity, De Moivre's theorem",
                "parametric_polar": "parametric equations and polar coordinates",
                "three_d_geometry": "lines and planes in space",
            },
        },
    },
}

_CODE: dict[str, Any] = {
    "description": "short Python programming tasks (MBPP, HumanEval)",
    "categories": {
        "strings": {
            "description": "building, transforming and inspecting text",
            "subcategories": {
                "manipulation": "replacing, reversing, case changes, joining and splitting",
                "palindromes_anagrams": "symmetry and letter-multiset comparisons",
                "character_counting": "frequencies and classes of characters",
                "substrings": "searching, extracting and comparing substrings",
                "pattern_matching": "regular expressions and wildcard matching",
                "formatting": "producing text in an exact output format",
            },
        },
        "lists_arrays": {
            "description": "sequences, lists, tuples and matrices",
            "subcategories": {
                "filtering_mapping": "selecting and transforming elements",
                "sorting": "ordering elements, custom keys, stability",
                "searching": "finding elements, indices, minimum and maximum",
                "indexing_slicing": "positions, windows, rotations, boundaries",
                "aggregation": "sums, products, counts and running totals",
                "two_pointers": "pairs, merging and in-place scans",
                "matrices": "nested lists and two-dimensional grids",
            },
        },
        "math": {
            "description": "numeric computation in code",
            "subcategories": {
                "arithmetic": "formulas and numeric expressions, integer vs float results",
                "number_theory": "primes, divisors, gcd, digits",
                "sequences": "Fibonacci-like and closed-form sequences",
                "combinatorics": "counting arrangements and selections",
                "geometry_formulas": "areas, volumes, distances, angles",
                "bit_manipulation": "bitwise operations and binary representations",
                "base_conversion": "converting between number bases",
            },
        },
        "data_structures": {
            "description": "choosing and using containers",
            "subcategories": {
                "dictionaries_hashing": "maps, counters, grouping by key",
                "sets": "membership, uniqueness, set algebra",
                "stacks_queues": "LIFO/FIFO processing, deques",
                "heaps": "priority queues, top-k",
                "linked_lists": "node-based lists",
                "trees_graphs": "tree and graph representations and traversals",
            },
        },
        "algorithms_dp": {
            "description": "algorithmic techniques",
            "subcategories": {
                "dynamic_programming": "overlapping subproblems, memoization, tabulation",
                "recursion": "recursive decomposition and base cases",
                "greedy": "locally optimal choices with a correctness argument",
                "binary_search": "searching sorted or monotone spaces",
                "graph_search": "BFS, DFS, shortest paths",
                "backtracking": "exhaustive search with pruning",
                "divide_and_conquer": "splitting, solving and combining",
            },
        },
        "parsing": {
            "description": "reading structured text into values",
            "subcategories": {
                "number_parsing": "digits and numeric literals inside text",
                "tokenization": "splitting input into tokens and words",
                "brackets_nesting": "balanced delimiters and nesting depth",
                "dates_times": "dates, times and durations",
                "structured_formats": "CSV, key-value and other record formats",
            },
        },
        "control_flow": {
            "description": "step-by-step logic and simulation",
            "subcategories": {
                "conditionals": "case analysis and edge conditions",
                "loops_iteration": "loop bounds, accumulation, early exit",
                "simulation": "simulating a process or game step by step",
                "validation": "checking whether input satisfies rules",
            },
        },
    },
}

_BUILTIN: dict[str, dict[str, Any]] = {"math": _MATH, "code": _CODE}


def builtin_taxonomies() -> list[str]:
    """Names accepted by :func:`get_taxonomy`."""
    return [*sorted(_BUILTIN), "default"]


def get_taxonomy(name: str = "default") -> Taxonomy:
    """A built-in taxonomy: ``"math"``, ``"code"`` or ``"default"`` (both domains).

    Raises:
        ConfigurationError: Unknown name.
    """
    if name == "default":
        return Taxonomy(name="default", domains={d: TaxonomyDomain.model_validate(v) for d, v in _BUILTIN.items()})
    if name not in _BUILTIN:
        raise ConfigurationError(
            f"unknown taxonomy {name!r}; built-in taxonomies are {builtin_taxonomies()}. "
            "Load your own with load_taxonomy(path_or_dict)."
        )
    return Taxonomy(name=name, domains={name: TaxonomyDomain.model_validate(_BUILTIN[name])})
