"""Provider health merged over processes: breakers are per process (per worker, per node)."""

from iep_appliance.domain.changes import ProviderBeat, merge_provider_beats


def test_the_worst_state_and_the_newest_failure_of_any_process_win() -> None:
    mine = (
        ProviderBeat("relay", "closed", "451 busy", "2026-01-01T00:00:01Z"),
        ProviderBeat("outbox", "closed"),
    )
    theirs = (
        ProviderBeat("relay", "open", "connect: refused", "2026-01-01T00:00:03Z"),
        ProviderBeat("outbox", "closed"),
    )
    older = (ProviderBeat("relay", "half_open", "421 closing", "2026-01-01T00:00:02Z"),)

    merged = merge_provider_beats([mine, theirs, older])

    assert merged == [
        ProviderBeat("relay", "open", "connect: refused", "2026-01-01T00:00:03Z"),
        ProviderBeat("outbox", "closed", None, None),
    ]


def test_a_process_with_no_failure_keeps_the_others_failure() -> None:
    failed = (ProviderBeat("relay", "closed", "554 5.6.0 rejected", "2026-01-01T00:00:01Z"),)
    quiet = (ProviderBeat("relay", "closed"),)

    assert merge_provider_beats([quiet, failed]) == list(failed)
    assert merge_provider_beats([failed, quiet]) == list(failed)


def test_a_provider_only_another_process_has_is_shown() -> None:
    assert merge_provider_beats([(), (ProviderBeat("ses", "closed"),)]) == [
        ProviderBeat("ses", "closed")
    ]
