"""The bounded renderer (DESIGN §10.1): keys and indexes only, limits on steps, output and depth.

On main before the fix: `{{x.__class__}}` in a text part never returned (the renderer iterated a
pybars Scope forever), the nested-each bomb ran for minutes, and there were no limits at all.
"""

import time

import pytest
from pybars import Compiler

from iep_appliance.domain.render import (
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    render,
    variables_depth_exceeds,
)

BOMB = (
    "{{#each l}}{{#each ../l}}{{#each ../../l}}{{#each ../../../l}}x"
    "{{/each}}{{/each}}{{/each}}{{/each}}"
)


def nested(depth: int) -> dict:
    root: dict = {}
    cur = root
    for _ in range(depth - 1):
        cur["a"] = {}
        cur = cur["a"]
    return root


@pytest.mark.parametrize(
    "expr",
    [
        "{{x.__class__}}",
        "{{x.__class__.__name__}}",
        "{{x.upper}}",
        "{{this.__class__}}",
        "{{o.keys}}",
        "{{o.items}}",
        "{{o.__init__.__globals__}}",
        "{{l.append}}",
        "{{l.__len__}}",
        "{{n.real}}",
        "{{@root.__class__}}",
        "{{lookup x '__class__'}}",
        "{{lookup o 'keys'}}",
        "{{#with x.__class__}}{{__name__}}{{/with}}",
        "{{#each o.__class__}}y{{/each}}",
    ],
)
def test_attributes_and_methods_never_resolve(expr: str) -> None:
    variables = {"x": "s", "o": {"k": "v"}, "l": [1, 2], "n": 5}
    started = time.perf_counter()
    rendered = render(f"S{expr}", f"<p>{expr}</p>", None, variables)
    assert rendered.subject == "S"
    assert rendered.html == "<p></p>"
    assert rendered.text.strip() == ""
    rendered = render("s", "h", f"T{expr}", variables)
    assert rendered.text == "T"
    assert time.perf_counter() - started < 1.0


def test_keys_and_indexes_resolve() -> None:
    variables = {"o": {"k": "v", "keys": "K"}, "l": ["a", "b"], "d": [{"n": 1}]}
    html = "{{o.k}} {{o.keys}} {{l.1}} {{l.length}} {{d.0.n}} {{lookup l 0}} {{lookup o 'k'}}"
    assert render("s", html, "t", variables).html == "v K b 2 1 a v"


NORMAL = [
    ("<p>Hi {{name}}</p>", {"name": "Ann & <Bob>"}),
    ("{{{raw}}}", {"raw": "<b>x</b>"}),
    ("{{user.first}} {{user.last}}", {"user": {"first": "Zoë", "last": "M"}}),
    ("{{#each items}}[{{@index}}:{{this}}{{#if @first}}!{{/if}}]{{/each}}", {"items": [1, 2]}),
    (
        "{{#each rows}}{{name}}={{../sep}}{{qty}};{{/each}}",
        {"rows": [{"name": "a", "qty": 2}], "sep": ":"},
    ),
    ("{{#each o}}{{@key}}={{this}},{{/each}}", {"o": {"a": 1, "b": 2}}),
    ("{{#if vip}}VIP{{else}}regular{{/if}} {{#unless vip}}no{{/unless}}", {"vip": False}),
    ("{{#with user}}{{first}}{{/with}}", {"user": {"first": "Ann"}}),
    ("{{#list}}<li>{{this}}</li>{{/list}}{{^empty}}none{{/empty}}", {"list": ["x"], "empty": []}),
    ("{{n}} {{f}} {{t}} {{missing}}", {"n": 42, "f": 1.5, "t": True}),
    ("{{#each items}}{{#each tags}}{{this}}{{/each}}|{{/each}}", {"items": [{"tags": ["a"]}]}),
]


@pytest.mark.parametrize(("template", "variables"), NORMAL)
def test_normal_templates_render_as_pybars_does(template: str, variables: dict) -> None:
    expected = str(Compiler().compile(template)(variables))
    assert render("s", template, "t", variables).html == expected


def test_steps_limit_trips_the_nested_each_bomb_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(RenderLimitExceeded) as info:
        render("s", BOMB, None, {"l": list(range(100))})
    assert str(info.value) == "render limit: max_steps 100000 exceeded"
    assert info.value.limit == "max_steps" and not info.value.deferred
    assert time.perf_counter() - started < 5.0  # ~0.1 s here; main never finished


def test_steps_limit_is_configurable_and_shared_by_the_three_parts() -> None:
    each = "{{#each l}}{{this}}{{/each}}"
    variables = {"l": list(range(150))}  # ~453 steps a part
    render(each, "<p></p>", "t", variables, RenderLimits(max_steps=700))
    with pytest.raises(RenderLimitExceeded, match="max_steps 700 exceeded"):
        render(each, each, each, variables, RenderLimits(max_steps=700))


def test_output_limit_trips_on_values() -> None:
    variables = {"l": list(range(1000)), "big": "y" * 100_000}
    with pytest.raises(RenderLimitExceeded) as info:
        render("s", "{{#each l}}{{../big}}{{/each}}", "t", variables)
    assert str(info.value) == "render limit: max_output_bytes 5000000 exceeded"


def test_output_limit_trips_on_literal_text_repeated_by_each() -> None:
    limits = RenderLimits(max_output_bytes=10_000)
    html = "{{#each l}}" + "z" * 100 + "{{/each}}"
    render("s", html, "t", {"l": list(range(90))}, limits)
    with pytest.raises(RenderLimitExceeded, match="max_output_bytes 10000 exceeded"):
        render("s", html, "t", {"l": list(range(120))}, limits)


def test_output_limit_counts_utf8_bytes_of_the_whole_message() -> None:
    limits = RenderLimits(max_output_bytes=3000)
    render("s", "{{x}}", "t", {"x": "é" * 1400}, limits)  # 2,800 bytes
    with pytest.raises(RenderLimitExceeded, match="max_output_bytes 3000 exceeded"):
        render("s", "{{x}}", "t", {"x": "é" * 1600}, limits)  # 1,600 chars, 3,200 bytes


def test_variable_depth_limit_trips_before_any_recursion() -> None:
    with pytest.raises(RenderLimitExceeded) as info:
        render("{{x.a}}", "h", None, {"x": nested(500)})
    assert str(info.value) == "render limit: max_variable_depth 32 exceeded"
    deep = {"x": nested(100_000)}  # far past Python's recursion limit
    with pytest.raises(RenderLimitExceeded, match="max_variable_depth 32"):
        render("s", "h", "t", deep)
    assert render("{{x.a.a}}", "h", "t", {"x": nested(31)}).subject.startswith("{")


@pytest.mark.parametrize(
    ("value", "limit", "exceeds"),
    [
        ({}, 1, False),
        ({"a": 1}, 1, False),
        ({"a": {"b": 1}}, 1, True),
        ({"a": [[1]]}, 3, False),
        ({"a": [[1]]}, 2, True),
        ("plain", 0, False),
    ],
)
def test_variables_depth(value: object, limit: int, exceeds: bool) -> None:
    assert variables_depth_exceeds(value, limit) is exceeds


def test_a_slice_defers_heavy_work_and_the_full_budget_finishes_it() -> None:
    variables = {"l": list(range(3000))}
    html = "{{#each l}}{{this}}{{/each}}"
    with pytest.raises(RenderLimitExceeded) as info:
        render("s", html, "t", variables, slice_steps=2000)
    assert info.value.deferred
    assert render("s", html, "t", variables).html.startswith("0123")
    cheap = render("Hi {{n}}", "<p>{{n}}</p>", None, {"n": "A"}, slice_steps=2000)
    assert (cheap.subject, cheap.html) == ("Hi A", "<p>A</p>")


def test_a_slice_defers_converting_long_html_to_text() -> None:
    html = "<p>{{x}}</p>" + "<p>para</p>" * 2000
    with pytest.raises(RenderLimitExceeded) as info:
        render("s", html, None, {"x": "1"}, slice_steps=2000)
    assert info.value.deferred
    assert "para" in render("s", html, None, {"x": "1"}).text


def test_a_limit_is_a_render_error() -> None:
    assert issubclass(RenderLimitExceeded, RenderError)


def test_a_slice_converts_a_long_template_inline_once_it_is_cached() -> None:
    html = "<p>{{x}} cached</p>" + "<p>para</p>" * 500
    with pytest.raises(RenderLimitExceeded) as info:
        render("s", html, None, {"x": "1"}, slice_steps=2000)
    assert info.value.deferred
    render("s", html, None, {"x": "1"})  # the render thread converts the template once
    assert "para" in render("s", html, None, {"x": "2"}, slice_steps=2000).text
