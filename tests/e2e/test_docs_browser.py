"""The API docs in a real browser with the network cut off: headless Chromium loads
/schema/swagger from the real `iep serve` while every request to anything but the appliance
is aborted, and the Swagger UI still renders the endpoints (its scripts and stylesheet are
served by the appliance, DESIGN §10.1). Without /usr/bin/chromium it skips, except under
CI=true where it fails."""

from urllib.parse import urlsplit

import pytest

from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, server
from tests.support.procs import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]
__all__ = ["server"]  # the fixture: `iep serve` on a free port


def test_swagger_ui_lists_the_endpoints_with_every_outside_request_blocked(
    server: ServerProcess,
) -> None:
    need_chromium()
    from playwright.sync_api import Route, expect, sync_playwright

    local = urlsplit(server.base_url).netloc
    blocked: list[str] = []
    served: list[str] = []

    def only_the_appliance(route: Route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).netloc == local:
            served.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", only_the_appliance)
            page.goto(f"{server.base_url}/schema/swagger")

            expect(page.get_by_text("/v1/messages", exact=True).first).to_be_visible(timeout=30_000)
            expect(page.locator(".opblock").first).to_be_visible()
            assert page.locator(".opblock").count() >= 20  # every operation, not a blank page
        finally:
            browser.close()

    assert blocked == []  # nothing was even asked of another host
    assert any("/admin/static/swagger-ui-bundle-" in url for url in served)


def test_the_vendored_assets_carry_their_version() -> None:
    from iep_appliance import paths
    from iep_appliance.app import SWAGGER_UI_VERSION

    names = ("swagger-ui-bundle-{}.js", "swagger-ui-standalone-preset-{}.js", "swagger-ui-{}.css")
    for name in names:
        assert (paths.static_dir() / name.format(SWAGGER_UI_VERSION)).stat().st_size > 10_000
