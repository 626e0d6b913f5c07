"""check_template refuses what Handlebars refuses, including what pybars3 lets through silently
(an unclosed block compiles there and renders as "")."""

import pytest

from iep_appliance.domain.render import RenderError, check_template, render


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{#if vip}}VIP", "{{#if}} is never closed"),
        ("{{#each xs}}{{this}}", "{{#each}} is never closed"),
        ("a {{#if a}}{{#if b}}x{{/if}}", "{{#if}} is never closed"),
        ("{{#if}}x{{/if}}", "{{#if}} needs an argument"),
        ("{{#each}}x{{/each}}", "{{#each}} needs an argument"),
        ("{{#unless}}x{{/unless}}", "{{#unless}} needs an argument"),
        ("{{#with}}x{{/with}}", "{{#with}} needs an argument"),
        ("Hello {{", "'{{' is never closed"),
        ("Hello {{name", "'{{n' is never closed"),
        ("{{!-- never closed", "comment is never closed"),
        ("{{ }}", "Error at character"),
    ],
)
def test_malformed_template_is_refused_with_a_reason(source: str, says: str) -> None:
    problem = check_template(source)

    assert problem is not None
    assert problem.startswith("Error at character ")
    assert says in problem


@pytest.mark.parametrize(
    "source",
    ["{{/if}}", "{{else}}", "{{#if a}}x{{/each}}", "{{#if a}}{{#each b}}{{/if}}{{/each}}"],
)
def test_stray_or_crossed_block_ends_are_refused(source: str) -> None:
    assert check_template(source) is not None


@pytest.mark.parametrize(
    "source",
    [
        "{{#if a}}x{{else}}y{{/if}}",
        "{{#if a}}x{{^}}y{{/if}}",
        "{{~#if a~}} x {{~/if~}}",
        "{{#each xs}}{{#if this}}{{this}}{{/if}}{{/each}}",
        "{{#with user}}{{name}}{{/with}}",
        "{{{raw}}}",
        "{{! a comment }}",
        "{{!-- a {{#if}} inside a comment --}}",
        "\\{{#if}} is a literal",
        "a }} b",
        "{{^if missing}}none{{/if}}",
    ],
)
def test_well_formed_template_is_accepted(source: str) -> None:
    assert check_template(source) is None


def test_rendering_an_unclosed_block_is_a_render_error_not_an_empty_body() -> None:
    with pytest.raises(RenderError, match="never closed"):
        render("s", "<p>{{#if vip}}VIP</p>", None, {"vip": True})
