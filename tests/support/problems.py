"""The one check for IEP's error shape (RFC 9457 problem details, DESIGN §4); every 4xx test
calls it.

    body = assert_problem(resp, 422, "to[0]", "subject")

passes when the response has status 422, content type `application/problem+json`, the members
`type` (a URI), `title`, `status` (equal to the HTTP status), `detail`, and an `errors` list of
`{field, message}` whose fields include each named one. It returns the parsed body.
"""

from typing import Any

PROBLEM_JSON = "application/problem+json"


def assert_problem(resp: Any, status: int, *fields: str) -> dict[str, Any]:
    """Assert `resp` (an httpx-style response) is a problem+json with `status` naming `fields`."""
    text = resp.text[:2000]
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {text}"
    content_type = resp.headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"content-type {content_type!r} is not {PROBLEM_JSON}: {text}"
    )
    body = resp.json()
    assert isinstance(body, dict), text
    for member in ("type", "title", "status", "detail", "errors"):
        assert member in body, f"problem details lack {member!r}: {text}"
    assert body["status"] == status, text
    assert isinstance(body["type"], str) and ":" in body["type"], text
    assert isinstance(body["title"], str) and body["title"], text
    assert isinstance(body["errors"], list), text
    for item in body["errors"]:
        assert isinstance(item, dict) and {"field", "message"} <= item.keys(), text
        assert isinstance(item["message"], str) and item["message"], text
    named = [item["field"] for item in body["errors"]]
    for field in fields:
        assert field in named, f"{field!r} not among the named fields {named}: {text}"
    return body
