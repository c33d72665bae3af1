"""tomlguard: the pass before tomllib agrees with tomllib on what nests and what a key's parts are.

Valid TOML documents are generated with a known deepest nesting and longest dotted key, in every lexical form
that could fool a scanner (the four kinds of string holding brackets, dots, quotes and '#'; quoted key parts
with dots inside; comments; spaces around dots); the pass must refuse exactly those past its bounds, and
tomllib must read every one (so the generator writes real TOML). Mutated documents check the pass never
raises, and that what it lets through never makes tomllib recurse too deep.
"""

import contextlib
import json
import re
import time
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arpresponder.tomlguard import MAX_KEY_PARTS, MAX_NESTING, MAX_TABLES, shape_problem

# Characters that matter to a scanner: brackets, braces, dots, quotes, '#', '=', ',', backslashes, newlines.
TRICKY = st.text(alphabet="ab.[]{}#=,'\"\\ \n\t", max_size=10)


def basic(s: str) -> str:
    return json.dumps(s)  # JSON's escapes (\" \\ \n \t \uXXXX) are TOML's


def literal(s: str) -> str | None:
    return f"'{s}'" if "'" not in s and "\n" not in s else None


def ml_basic(s: str) -> str:
    body = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"""{body}"""'


def ml_literal(s: str) -> str | None:
    return f"'''{s}'''" if "'''" not in s and not s.endswith("'") else None


@st.composite
def string_value(draw) -> str:
    s = draw(TRICKY)
    forms = [basic(s), ml_basic(s), literal(s), ml_literal(s)]
    return draw(st.sampled_from([f for f in forms if f is not None]))


@st.composite
def key_part(draw, first: str | None = None) -> str:
    """A bare part, or a quoted one (which may hold dots, brackets and '#'); `first` fixes its name."""
    name = first if first is not None else draw(st.from_regex(r"[A-Za-z0-9_-]{1,4}", fullmatch=True))
    if draw(st.booleans()):
        return name
    text = name + draw(st.text(alphabet=".[]{}# ", max_size=4))
    return draw(st.sampled_from([basic(text), literal(text) or basic(text)]))


@st.composite
def dotted_key(draw, first: str, parts: int) -> str:
    """A key of `parts` parts whose first part is named `first` (unique in its table), spaces around dots or not."""
    names = [draw(key_part(first))] + [draw(key_part()) for _ in range(parts - 1)]
    return draw(st.sampled_from([".", " . ", "\t.", ". "])).join(names)


@st.composite
def value(draw, depth: int) -> tuple[str, int, int, int]:
    """(TOML text nesting `depth` deep, depth, the most parts of a key in it, the tables its keys open): a
    scalar inside arrays and inline tables, in a drawn order, the tables' keys of a drawn length."""
    text = draw(st.one_of(string_value(), st.sampled_from(["1", "-2.5", "true", "1979-05-27T07:32:00.5", "inf"])))
    parts = draw(st.integers(1, MAX_KEY_PARTS + 3))
    key = draw(dotted_key("k", parts))
    tables = draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    for table in tables:
        text = f"{{ {key} = {text} }}" if table else f"[ {text}, 1 ]"
    return text, depth, parts if any(tables) else 0, sum(tables) * (parts - 1)


@st.composite
def document(draw) -> tuple[str, int, int, int]:
    """A valid document: statements at the top, then a table with a dotted header, comments between; with its
    deepest nesting, its longest key and the tables its headers and dotted keys open."""
    lines, deepest, most_parts, tables = [], 0, 0, 0
    for i in range(draw(st.integers(1, 4))):
        text, depth, parts, value_tables = draw(value(draw(st.integers(0, MAX_NESTING + 3))))
        key_parts = draw(st.integers(1, MAX_KEY_PARTS + 3))
        lines.append(f"{draw(dotted_key(f'top{i}', key_parts))} = {text}  # {draw(TRICKY).replace(chr(10), ' ')}")
        deepest, most_parts = max(deepest, depth), max(most_parts, parts, key_parts)
        tables += value_tables + key_parts - 1
    headers = draw(st.sampled_from([0, 1, MAX_TABLES // 2, MAX_TABLES + 1]))  # tables of their own, one key each
    lines += [f"[h{i}]\nx = {i}" for i in range(headers)]
    tables += headers
    header_parts = draw(st.integers(1, MAX_KEY_PARTS + 3))
    lines.append(draw(st.sampled_from(["", "  "])) + f"[{draw(dotted_key('table', header_parts))}]")
    text, depth, parts, value_tables = draw(value(draw(st.integers(0, 3))))
    lines.append(f"inside = {text}")
    tables += header_parts + value_tables
    return "\n".join(lines) + "\n", max(deepest, depth), max(most_parts, parts, header_parts), tables


@settings(max_examples=200)
@given(document())
def test_refuses_exactly_what_is_past_its_bounds(doc):
    text, depth, parts, tables = doc
    tomllib.loads(text)  # the generator writes valid TOML: tomllib reads it
    problem = shape_problem(text)
    past = {"nested": depth > MAX_NESTING, "dotted parts": parts > MAX_KEY_PARTS, "tables": tables > MAX_TABLES}
    assert (problem is not None) == any(past.values()), (text, past, problem)
    if problem:
        assert any(past[word] for word in past if word in problem[1]), (past, problem)


@settings(max_examples=200)
@given(document(), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(list("[]{}\"'#.\n\\ab "))), max_size=4))
def test_never_raises_and_what_it_lets_through_never_recurses_too_deep(doc, edits):
    text = doc[0]
    for position, char in edits:
        at = position % (len(text) + 1)
        text = text[:at] + char + text[at:]
    if shape_problem(text) is None:
        with contextlib.suppress(tomllib.TOMLDecodeError):  # any other exception fails the test
            tomllib.loads(text)


def test_offsets_point_at_the_line():
    text = 'a = 1\nb = "[[[[[[[[[[[[[[[[[[[["\n' + "c = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n"
    offset, problem = shape_problem(text)
    assert text.count("\n", 0, offset) + 1 == 3 and "nested more than" in problem
    text = "x = 1\n\n[" + ".".join(["p"] * (MAX_KEY_PARTS + 1)) + "]\n"
    offset, problem = shape_problem(text)
    assert text.count("\n", 0, offset) + 1 == 3 and "dotted parts" in problem


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000,  # a RecursionError in tomllib
        "a" + ".a" * 100_000 + " = 1",  # all of memory in tomllib
        "[" + ".".join(["a"] * 100_000) + "]",
        "".join(f"[t{i}]\n" for i in range(100_000)),  # a kilobyte of tomllib's memory for each
        "a" + ".a" * 100_000,  # no '=': tomllib still reads the key, one tuple copy per part
        "x = 1\n" + " . ".join(['"a.b"'] * 50_000) + " = 1",
        "a = [" + "{ b = " * 1000,
    ],
)
def test_absurd_shapes_are_refused_in_linear_time(text):
    start = time.perf_counter()
    assert shape_problem(text) is not None
    assert time.perf_counter() - start < 2  # ~10 ms here; a quadratic pass would take minutes


def test_an_address_list_passes_quickly():
    """The common large config: 100k addresses, as strings and as tables; a few tens of ms here."""
    strings = "addresses = [\n" + "".join(f'  "198.51.{n >> 8 & 255}.{n & 255}",\n' for n in range(100_000)) + "]\n"
    tables = re.sub(r'"([0-9.]+)"', r'{ ip = "\1", mac = "02:00:00:00:00:01" }', strings)
    for text in (strings, tables):
        start = time.perf_counter()
        assert shape_problem(text) is None
        assert time.perf_counter() - start < 5
