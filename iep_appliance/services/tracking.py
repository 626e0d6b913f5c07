"""Open and click tracking: the use cases behind `/t/o/{token}.gif`, `/t/c/{token}` and
`GET /v1/analytics/engagement`, and the rewrite the delivery path applies to a tracked
message's rendered HTML. The signed token is the capability (no API key); a token that is
forged or altered, or names a message that is gone or untracked, records nothing."""

import logging
from collections.abc import Callable
from datetime import datetime

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import tracking
from iep_appliance.domain.analytics import StatsQuery, bucket_starts, stats_query
from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.render import RenderError, RenderLimits, render
from iep_appliance.logs import event
from iep_appliance.store.base import Store

log = logging.getLogger("iep.tracking")
MAX_USER_AGENT = 512


class Engagement(msgspec.Struct, frozen=True):
    query: StatsQuery
    buckets: list[tuple[str, dict[str, int]]]
    totals: dict[str, int]


class TrackingService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        key: Callable[[], bytes],
        base_url: str,
        limits: RenderLimits,
    ) -> None:
        self.store = store
        self.clock = clock
        self._key_source = key  # derived from the master key on first use
        self._key: bytes | None = None
        self.base_url = base_url.rstrip("/")
        self.limits = limits

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self._key_source()
        return self._key

    def rewrite(self, message: MessageRecord, html: str) -> str:
        """The HTML as sent for a tracked message (delivery calls this after render)."""
        if not message.tracking or not html:
            return html
        return tracking.rewrite(html, message.id, self.base_url, self.key, message.tracking)

    async def _message(self, token: str, kind: str) -> tuple[MessageRecord, int] | None:
        read = tracking.read_token(self.key, token)
        if read is None or read[0] != kind:
            return None
        message = await self.store.tracked_message(read[1])
        bit = 1 if kind == "open" else 2
        if message is None or not message.tracking & bit:
            return None
        return message, read[2]

    def links(self, message: MessageRecord) -> list[str]:
        """The trackable links of the message as rendered (rendered again from its own copy
        when the send has not been recorded yet)."""
        html = message.rendered_html
        if html is None:
            try:
                html = render(
                    message.subject,
                    message.html_body,
                    message.text_body,
                    message.variables,
                    self.limits,
                ).html
            except RenderError:
                return []
        return tracking.links_of(html)

    async def opened(self, token: str, user_agent: str) -> bool:
        """Record an open; False (nothing recorded) for a token that is not genuine."""
        found = await self._message(token, "open")
        if found is None:
            return False
        await self._record(found[0], "open", user_agent, None)
        return True

    async def clicked(self, token: str, user_agent: str) -> str | None:
        """Record a click and return its URL (one of that message's links), else None."""
        found = await self._message(token, "click")
        if found is None:
            return None
        message, index = found
        links = self.links(message)
        if index >= len(links):
            return None
        await self._record(message, "click", user_agent, links[index])
        return links[index]

    async def _record(
        self, message: MessageRecord, kind: str, user_agent: str, url: str | None
    ) -> None:
        agent = user_agent[:MAX_USER_AGENT]
        hit = tracking.EngagementHit(
            tenant_id=message.tenant_id,
            message_id=message.id,
            kind=kind,
            user_agent=agent,
            bot=tracking.classify_agent(agent),
            url=url,
        )
        first = await self.store.record_engagement(hit)
        event(log, f"tracking.{kind}", message_id=message.id, first=first, bot=hit.bot)

    async def engagement(
        self, tenant_id: str, params: dict[str, str | None], now: datetime | None = None
    ) -> Engagement:
        """Opens and clicks by hour or day (`groupBy`, `from`, `to` as /v1/analytics/delivery)."""
        q = stats_query(
            now or self.clock.now(),
            group_by=params.get("groupBy"),
            start=params.get("from"),
            end=params.get("to"),
        )
        width = 13 if q.group_by == "hour" else 10
        found = await self.store.engagement_stats(tenant_id, q.start, q.end, width)
        buckets = tracking.fill_engagement(bucket_starts(q), width, found)
        totals = dict.fromkeys(tracking.ENGAGEMENT_COUNTS, 0)
        for _start, counts in buckets:
            for name, n in counts.items():
                totals[name] += n
        return Engagement(query=q, buckets=buckets, totals=totals)
