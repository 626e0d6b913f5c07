"""Time-ordered UUIDv7 ids and timestamps as text. Pure: callers pass the time and randomness."""

from datetime import UTC, datetime


def uuid7(unix_ms: int, rand: bytes) -> str:
    """A UUIDv7 string from a millisecond timestamp and 10 random bytes."""
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    r = int.from_bytes(rand[:10], "big")
    value |= 0x7 << 76
    value |= ((r >> 68) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= r & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso(ts: datetime) -> str:
    """UTC ISO 8601 with millisecond precision and a `Z`."""
    t = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
