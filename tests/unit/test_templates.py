"""Stored templates as pure rules: the variables a template uses, found by walking
pybars3's parsed form; what a send lacks; what makes a template refused at create."""

import pytest

from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.models import SendRequest, TenantSettings
from iep_appliance.domain.render import RenderLimits
from iep_appliance.domain.template_sends import check_variables, strict, with_template
from iep_appliance.domain.templates import (
    ContentDefaults,
    TemplateBody,
    TemplateRef,
    check_body,
    missing_variables,
    template_variables,
    version_of,
)


@pytest.mark.parametrize(
    ("source", "used"),
    [
        ("Hi {{name}}", ("name",)),
        ("{{{raw}}} and {{&amp}}", ("amp", "raw")),
        ("{{user.first}} {{user.last}}", ("user.first", "user.last")),
        ("{{#each items}}{{title}} {{@index}}{{/each}}", ("items",)),
        ("{{#each items}}{{../currency}}{{/each}}", ("currency", "items")),
        ("{{#if vip}}{{code}}{{else}}{{fallback}}{{/if}}", ("code", "fallback", "vip")),
        ("{{#unless a}}{{b}}{{/unless}}", ("a", "b")),
        ("{{#with address}}{{city}}{{/with}}", ("address",)),
        ("{{lookup prices sku}}", ("prices", "sku")),
        ("{{#user}}{{name}}{{/user}}", ("user",)),
        ("{{^empty}}x{{/empty}}", ("empty",)),
        ("{{! a comment {{name}} }}plain", ()),
        ("no expressions at all", ()),
        ("{{this}}", ()),
        # what a regex over {{…}} would wrongly report: the item's fields and helper names
        ("{{#each rows}}{{#if this.ok}}{{label}}{{/if}}{{/each}}", ("rows",)),
    ],
)
def test_variables_come_from_the_parsed_form(source: str, used: tuple[str, ...]) -> None:
    assert template_variables(source) == used


def test_variables_of_all_parts_are_merged_and_sorted() -> None:
    assert template_variables("{{b}}", "<p>{{a}}</p>", None) == ("a", "b")


@pytest.mark.parametrize(
    ("used", "given", "missing"),
    [
        (("name",), {"name": "Ada"}, []),
        (("name",), {}, ["name"]),
        (("user.first",), {"user": {"first": "A"}}, []),
        (("user.first",), {"user": {}}, ["user.first"]),
        (("user.first",), {"user": "not an object"}, ["user.first"]),
        (("rows.0",), {"rows": [1]}, []),
        (("a", "b"), {"b": None}, ["a"]),
    ],
)
def test_missing_variables(used: tuple[str, ...], given: dict, missing: list[str]) -> None:
    assert missing_variables(used, given) == missing


LIMITS = RenderLimits(max_steps=1000, max_output_bytes=20_000, max_variable_depth=4)


def body(**kw: object) -> TemplateBody:
    fields: dict = {"name": "Welcome", "subject": "Hi {{name}}", "html_body": "<p>{{name}}</p>"}
    fields.update(kw)
    return TemplateBody(**fields)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"subject": ""}, "subject"),
        ({"subject": "a\r\nb"}, "subject"),
        ({"html_body": "", "text_body": None}, "htmlBody"),
        ({"html_body": "<p>{{#if x}}never closed</p>"}, "htmlBody"),
        ({"subject": "{{"}, "subject"),
        ({"text_body": "{{/each}}"}, "textBody"),
        ({"html_body": "x" * 20_001}, "htmlBody"),
        ({"sample_variables": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "sampleVariables"),
        # renders past max_steps with its own sample variables
        (
            {
                "html_body": "{{#each rows}}{{#each ../rows}}{{a}}{{/each}}{{/each}}",
                "sample_variables": {"rows": [{"a": 1}] * 100},
            },
            "htmlBody",
        ),
        # output past max_output_bytes
        (
            {
                "text_body": "{{#each rows}}{{../big}}{{/each}}",
                "sample_variables": {"rows": [{}] * 30, "big": "y" * 1000},
            },
            "textBody",
        ),
    ],
)
def test_a_template_is_refused_naming_the_field(kw: dict, field: str) -> None:
    errors = check_body(body(**kw), LIMITS)
    assert [e.path for e in errors] == [field], errors


def test_a_good_template_passes_and_records_its_variables() -> None:
    b = body(text_body="Code {{code}}")
    assert check_body(b, LIMITS) == []
    v = version_of(b, "t1", "ten", 1, "2026-01-01T00:00:00Z")
    assert v.variables == ("code", "name")


def send(**kw: object) -> SendRequest:
    fields: dict = {"to": ["a@x.com"], "from_": "n@example.com"}
    fields.update(kw)
    return SendRequest(**fields)


def test_with_template_puts_its_sources_in_place() -> None:
    v = version_of(body(text_body="t"), "t1", "ten", 3, "2026-01-01T00:00:00Z")
    out = with_template(send(template=TemplateRef(id="t1")), v)
    assert (out.subject, out.html_body, out.text_body) == ("Hi {{name}}", "<p>{{name}}</p>", "t")


def test_a_send_with_a_template_and_its_own_subject_is_refused() -> None:
    v = version_of(body(), "t1", "ten", 1, "2026-01-01T00:00:00Z")
    with pytest.raises(ValidationFailed) as exc:
        with_template(send(template=TemplateRef(id="t1"), subject="x"), v)
    assert [e.path for e in exc.value.errors] == ["template"]


def test_strict_variables_names_each_missing_one() -> None:
    req = send(subject="{{a}} {{b.c}}", html_body="{{d}}", variables={"a": 1, "b": {}})
    with pytest.raises(ValidationFailed) as exc:
        check_variables(req, None)
    assert [e.path for e in exc.value.errors] == ["variables.b.c", "variables.d"]
    check_variables(send(variables={"x": 1}), ("x",))  # nothing missing: no error


def test_strict_is_the_send_s_else_the_tenant_s() -> None:
    on = TenantSettings(content=ContentDefaults(strict_variables=True))
    assert strict(send(), on) is True
    assert strict(send(strict_variables=False), on) is False
    assert strict(send(), TenantSettings()) is False
