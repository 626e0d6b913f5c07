import pytest

from iep_appliance.domain.render import Rendered, RenderError, check_template, render


@pytest.mark.parametrize(
    ("html", "variables", "expected"),
    [
        ("<p>Hi {{name}}</p>", {"name": "Ann"}, "<p>Hi Ann</p>"),
        ("<p>Hi {{name}}</p>", {}, "<p>Hi </p>"),
        ("<p>Hi</p>", {"unused": "x"}, "<p>Hi</p>"),
        ("{{x}}", {"x": "<b>&'\"</b>"}, "&lt;b&gt;&amp;&#x27;&quot;&lt;/b&gt;"),
        ("{{{x}}}", {"x": "<b>bold</b>"}, "<b>bold</b>"),
        ("{{user.first}}", {"user": {"first": "Zoë"}}, "Zoë"),
        ("{{#each items}}[{{this}}]{{/each}}", {"items": ["a", "b"]}, "[a][b]"),
        ("{{#if vip}}VIP{{else}}regular{{/if}}", {"vip": False}, "regular"),
        ("{{n}}", {"n": 42}, "42"),
    ],
)
def test_html_body_follows_handlebars_rules(html: str, variables: dict, expected: str) -> None:
    assert render("s", html, "t", variables).html == expected


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("Hi {{name}}", {"name": "O'Brien & <Co>"}, "Hi O'Brien & <Co>"),
        ("Hi {{{name}}}", {"name": "O'Brien & <Co>"}, "Hi O'Brien & <Co>"),
        ("Hi {{missing}}!", {}, "Hi !"),
        ("{{#each xs}}{{this}},{{/each}}", {"xs": ["a&b", "c"]}, "a&b,c,"),
        ("{{#if flag}}yes{{else}}no{{/if}}", {"flag": ""}, "no"),
        ("{{u.name}}", {"u": {"name": "<Ann>"}}, "<Ann>"),
    ],
)
def test_subject_and_text_insert_values_without_html_escaping(
    template: str, variables: dict, expected: str
) -> None:
    rendered = render(template, "<p></p>", template, variables)
    assert (rendered.subject, rendered.text) == (expected, expected)


@pytest.mark.parametrize(
    ("subject", "variables", "expected"),
    [
        (
            "Hi {{name}}",
            {"name": "Ann\r\nBcc: victim@example.com"},
            "Hi Ann Bcc: victim@example.com",
        ),
        ("Hi {{name}}", {"name": "a\n\n\nb\rc"}, "Hi a b c"),
        ("Line one\r\nline two", {}, "Line one line two"),
    ],
)
def test_each_crlf_run_in_subject_becomes_one_space(
    subject: str, variables: dict, expected: str
) -> None:
    assert render(subject, "", "", variables).subject == expected


def test_text_keeps_its_line_breaks() -> None:
    assert render("s", "", "a\n{{x}}\nc", {"x": "b"}).text == "a\nb\nc"


def test_missing_text_is_generated_from_rendered_html_with_links() -> None:
    html = '<p>Hello {{name}}, <a href="https://example.com/o/{{id}}">track order</a>.</p>'
    rendered = render("s", html, None, {"name": "Zoë", "id": "42"})
    assert "Hello Zoë" in rendered.text
    assert "https://example.com/o/42" in rendered.text
    assert "<p>" not in rendered.text


def test_generated_text_is_not_wrapped() -> None:
    long_sentence = " ".join(["word"] * 60)
    rendered = render("s", f"<p>{long_sentence}</p>", None, {})
    assert long_sentence in rendered.text


def test_render_returns_a_rendered_struct() -> None:
    assert render("S {{a}}", "<i>{{a}}</i>", "T {{a}}", {"a": "1"}) == Rendered(
        subject="S 1", html="<i>1</i>", text="T 1"
    )


@pytest.mark.parametrize(
    "source",
    ["{{#if x}}a{{/each}}", "{{}}", "Hello {{{name}}"],
)
def test_check_template_returns_the_parser_message_for_malformed_templates(source: str) -> None:
    message = check_template(source)
    assert message is not None
    assert "Error at character" in message


@pytest.mark.parametrize(
    "source",
    ["plain text", "", "{{name}}", "{{#each xs}}{{this}}{{/each}}", "a }} b"],
)
def test_check_template_accepts_valid_templates(source: str) -> None:
    assert check_template(source) is None


def test_check_template_is_stable_across_calls_thanks_to_the_cache() -> None:
    source = "{{#if x}}a{{/each}} cached"
    assert check_template(source) == check_template(source)


@pytest.mark.parametrize(
    ("subject", "html", "text"),
    [
        ("ok", "{{#if x}}a{{/each}}", "ok"),
        ("{{}}", "ok", "ok"),
        ("ok", "ok", "{{#if x}}a{{/each}}"),
    ],
)
def test_malformed_template_raises_render_error_with_parser_message(
    subject: str, html: str, text: str
) -> None:
    with pytest.raises(RenderError, match="Error at character"):
        render(subject, html, text, {})


@pytest.mark.parametrize(
    "html",
    ["{{shout name}}", "{{shout (lower name)}}", "{{> footer}}"],
)
def test_unknown_helper_or_partial_raises_render_error(html: str) -> None:
    with pytest.raises(RenderError) as info:
        render("s", html, "t", {"name": "x"})
    assert str(info.value)


def test_strings_without_braces_pass_through_untouched() -> None:
    rendered = render("50% off } today", "<p>{ not a tag }</p>", "plain", {"x": "y"})
    assert rendered == Rendered(
        subject="50% off } today", html="<p>{ not a tag }</p>", text="plain"
    )


# ---- text generated from a cached text template (no html2text per message) ----------------

from iep_appliance.domain.render import html_to_text, text_template_of  # noqa: E402


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hi {{name}}, your order {{order}} <a href='https://x.test/{{order}}'>ships</a>.</p>",
        "<h1>Hello {{name}}</h1><ul><li>{{a}}</li><li>{{b}}</li></ul>",
        "<p>{{#if vip}}VIP {{name}}{{else}}Guest{{/if}}</p>",
    ],
)
def test_generated_text_matches_converting_the_rendered_html(html: str) -> None:
    variables = {"name": "Ada", "order": "A-1", "a": "x", "b": "y", "vip": True}
    rendered = render("s", html, None, variables)
    assert rendered.text == html_to_text(rendered.html)


def test_triple_stash_falls_back_to_converting_the_rendered_html() -> None:
    assert text_template_of("<p>{{{raw}}}</p>") is None
    rendered = render("s", "<p>{{{raw}}}</p>", None, {"raw": "<b>bold</b>"})
    assert rendered.text.strip() == "**bold**"


def test_block_expression_dropped_by_html2text_falls_back() -> None:
    html = "<p>a</p><img alt='{{#if x}}' src='y'><p>{{name}}</p><img alt='{{/if}}' src='z'>"
    assert text_template_of(html) is None
    assert "Ada" in render("s", html, None, {"name": "Ada", "x": True}).text
