"""Numbers and dates from the URL or a form that Python's own checks let through: each is a
4xx page (or, for a date at the end of the calendar, an answer), never a 500."""

import pytest

from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance

SUPERSCRIPT_TWO = "²"  # "²".isdigit() is True, int("²") raises
PAST_INT64 = "9" * 23  # SQLite cannot bind it


@pytest.mark.parametrize("cursor", [SUPERSCRIPT_TWO, PAST_INT64, "-1"])
async def test_a_queue_cursor_that_is_no_job_number_is_a_400_page(
    admin: Operator, cursor: str
) -> None:
    resp = await admin.page("/admin/queue", params={"cursor": cursor})
    assert resp.status_code == 400
    assert "cursor" in resp.text


@pytest.mark.parametrize("job", [SUPERSCRIPT_TWO, PAST_INT64])
@pytest.mark.parametrize("action", ["retry", "discard"])
async def test_a_dead_job_action_on_no_job_number_is_a_400_page(
    admin: Operator, action: str, job: str
) -> None:
    await admin.page("/admin/queue")
    resp = await admin.post(f"/admin/queue/{action}", {"job": job})
    assert resp.status_code == 400
    assert "job" in resp.text


async def test_the_last_day_of_the_calendar_is_a_valid_end_date(
    appliance: Appliance, admin: Operator
) -> None:
    page = await admin.page("/admin/messages", params={"to": "9999-12-31"})
    assert page.status_code == 200
    key = appliance.admin
    assert key is not None
    api = await appliance.client.get("/v1/messages", params={"to": "9999-12-31"}, headers=key.auth)
    assert api.status_code == 200, api.text
