"""/admin/nodes: every process serving from the store, with its last heartbeat (admins only)."""

from iep_appliance.domain.changes import NodeBeat
from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance


async def test_an_admin_sees_each_node_with_its_last_heartbeat(
    appliance: Appliance, admin: Operator
) -> None:
    store = appliance.rt.services.store
    await appliance.rt.services.heartbeat.beat()
    await store.heartbeat(
        NodeBeat("gone-node", "h2", 7, "sqlite", "2020-01-01T00:00:00Z", "2020-01-01T00:00:05Z")
    )

    page = await admin.page("/admin/nodes")

    assert page.status_code == 200
    me = appliance.rt.services.heartbeat.node_id
    assert f'data-node="{me}"' in page.text and "gone-node" in page.text
    assert page.text.count('class="badge sent">alive') == 1
    assert page.text.count('class="badge failed">gone') == 1


async def test_a_viewer_is_refused_the_nodes_page(viewer: Operator) -> None:
    page = await viewer.page("/admin/nodes")

    assert page.status_code == 403
