"""The overview's charts, drawn on the server as SVG geometry (no JavaScript library): for
each hour (last 24 h) or day (last 30 days), a bar of accepted (queued) messages and beside
it a stack of outcomes (sent, bounced, failed), on a y axis rounded to a readable maximum."""

from collections.abc import Callable

import msgspec

WIDTH, HEIGHT = 1120, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26
STACK: tuple[str, ...] = ("sent", "bounced", "failed")


class Bar(msgspec.Struct, frozen=True):
    x: float
    y: float
    w: float
    h: float
    kind: str  # queued | sent | bounced | failed
    title: str


class Tick(msgspec.Struct, frozen=True):
    at: float
    text: str


class Chart(msgspec.Struct, frozen=True):
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    empty: bool


def nice_max(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times 10^k at or above `value` (at least 4)."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for m in (1, 2, 2.5, 5):
            if step * m >= value:
                return int(step * m)
        step *= 10


def hourly_chart(hours: list[tuple[str, dict[str, int]]]) -> Chart:
    """Geometry for 24 hours (bucket start ISO text, counts), oldest first."""
    return bar_chart(hours, lambda start: f"{start[11:16]} UTC", lambda start: start[11:16], 3)


def daily_chart(days: list[tuple[str, dict[str, int]]]) -> Chart:
    """Geometry for 30 days (bucket start ISO text, counts), oldest first."""
    return bar_chart(days, lambda start: start[:10], lambda start: start[5:10], 5)


def bar_chart(
    buckets: list[tuple[str, dict[str, int]]],
    label: Callable[[str], str],
    tick: Callable[[str], str],
    tick_every: int,
) -> Chart:
    """Per bucket, a bar of accepted messages and beside it a stack of outcomes."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max(
        [max(c.get("queued", 0), sum(c.get(k, 0) for k in STACK)) for _s, c in buckets] or [0]
    )
    top = nice_max(peak)
    slot = plot_w / max(1, len(buckets))
    bar_w = max(2.0, (slot - 6) / 2)
    bars: list[Bar] = []
    x_ticks: list[Tick] = []

    def height(n: int) -> float:
        return plot_h * n / top

    for i, (start, counts) in enumerate(buckets):
        x = LEFT + i * slot + 2
        name = label(start)
        queued = counts.get("queued", 0)
        if queued:
            h = height(queued)
            bars.append(Bar(x, TOP + plot_h - h, bar_w, h, "queued", f"{name}: {queued} queued"))
        base = TOP + plot_h
        for kind in STACK:
            n = counts.get(kind, 0)
            if n:
                h = height(n)
                base -= h
                bars.append(Bar(x + bar_w + 1, base, bar_w, h, kind, f"{name}: {n} {kind}"))
        if i % tick_every == 0 or i == len(buckets) - 1:
            x_ticks.append(Tick(LEFT + i * slot + slot / 2, tick(start)))
    fractions = [f for f in (0, 0.25, 0.5, 0.75, 1) if float(top * f).is_integer()]
    y_ticks = [Tick(TOP + plot_h - plot_h * f, f"{int(top * f)}") for f in fractions]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        plot_width=plot_w,
        plot_height=plot_h,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        empty=peak == 0,
    )


SMALL_W, SMALL_H = 280, 60


def rate_trend(
    days: list[tuple[str, float, float]], pause_bounce: float, pause_complaint: float
) -> list[Bar]:
    """A small trend (the reputation panel): per day (day, bounce rate, complaint rate), two
    bars, each as a share of its pause threshold (the threshold at half height; clipped at
    twice it), so one glance says how close a tenant is to being held."""
    slot = SMALL_W / max(1, len(days))
    bar_w = max(2.0, (slot - 4) / 2)
    bars = []
    for i, (day, bounce, complaint) in enumerate(days):
        x = i * slot + 1
        for j, (kind, rate, limit) in enumerate(
            (("bounced", bounce, pause_bounce), ("complained", complaint, pause_complaint))
        ):
            h = SMALL_H / 2 * min(rate / limit, 2.0) if limit else 0.0
            title = f"{day}: {rate * 100:.2f} % {kind}"
            bars.append(Bar(x + j * (bar_w + 1), SMALL_H - h, bar_w, h, kind, title))
    return bars
