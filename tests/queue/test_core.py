"""The pure routing core, without a store: matching, the aging score, agent choice and statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbranch_queue.core.model import (
    SETTABLE_STATES,
    AgentState,
    Needs,
    RoutingConfig,
    Skills,
    qualifies,
)
from vbranch_queue.core.priority import (
    FRONT_OF_LINE_SECONDS,
    effective_priority,
    idle_score,
    queue_score,
)
from vbranch_queue.core.stats import (
    COUNTERS,
    STAFFED_STATES,
    agents_by_state,
    day_number,
    estimated_wait,
    queue_stats,
)

STEP = 60.0
PENSIONS_AR = Needs("pensions", "ar")
PENSIONS_AR_SIGN = Needs("pensions", "ar", sign_language=True)

# --- qualifies ---------------------------------------------------------------------------------

GENERALIST = Skills.of(["pensions", "medical"], ["ar", "en"])
SIGNER = Skills.of(["pensions", "medical"], ["ar", "en"], sign_language=True)
ARABIC_PENSIONS = Skills.of(["pensions"], ["ar"])
SIGNER_WITHOUT_LANGUAGES = Skills.of(["pensions"], [], sign_language=True)


@pytest.mark.parametrize(
    ("skills", "needs", "expected"),
    [
        (GENERALIST, PENSIONS_AR, True),
        (GENERALIST, Needs("medical", "en"), True),
        (GENERALIST, Needs("unemployment", "ar"), False),  # category not covered
        (GENERALIST, Needs("pensions", "fa"), False),  # language not covered
        (GENERALIST, PENSIONS_AR_SIGN, False),  # sign language is never dropped
        (SIGNER, PENSIONS_AR_SIGN, True),
        (SIGNER, PENSIONS_AR, True),  # a signer also serves ordinary calls
        (ARABIC_PENSIONS, PENSIONS_AR, True),
        (ARABIC_PENSIONS, Needs("pensions", "en"), False),
        (ARABIC_PENSIONS, Needs("medical", "ar"), False),
        (
            SIGNER_WITHOUT_LANGUAGES,
            PENSIONS_AR_SIGN,
            False,
        ),  # signing does not replace the language
        (Skills(), PENSIONS_AR, False),
    ],
)
def test_qualifies_only_when_every_need_is_covered(
    skills: Skills, needs: Needs, expected: bool
) -> None:
    assert qualifies(skills, needs) is expected


CATEGORIES = ["pensions", "medical", "unemployment"]
LANGUAGES = ["ar", "en"]
needs_strategy = st.builds(
    Needs, st.sampled_from(CATEGORIES), st.sampled_from(LANGUAGES), st.booleans()
)
skills_strategy = st.builds(
    Skills.of,
    st.lists(st.sampled_from(CATEGORIES), unique=True),
    st.lists(st.sampled_from(LANGUAGES), unique=True),
    st.booleans(),
)


@given(skills_strategy, needs_strategy)
def test_a_sign_language_need_is_never_covered_by_a_non_signing_agent(
    skills: Skills, needs: Needs
) -> None:
    if needs.sign_language and not skills.sign_language:
        assert not qualifies(skills, needs)
    # And the rule in full, as the domain states it.
    assert qualifies(skills, needs) == (
        needs.category in skills.categories
        and needs.language in skills.languages
        and (skills.sign_language or not needs.sign_language)
    )


def test_skills_of_accepts_lists_and_tuples() -> None:
    assert Skills.of(("pensions",), ["ar"]) == Skills(frozenset({"pensions"}), frozenset({"ar"}))


# --- needs and their bucket --------------------------------------------------------------------


def test_bucket_names_category_language_and_the_sign_mark() -> None:
    assert PENSIONS_AR.bucket == "pensions|ar|-"
    assert PENSIONS_AR_SIGN.bucket == "pensions|ar|sl"


@given(needs_strategy)
def test_bucket_round_trip(needs: Needs) -> None:
    assert Needs.from_bucket(needs.bucket) == needs


@given(
    st.text(min_size=1).filter(lambda s: "|" not in s),
    st.text(min_size=1).filter(lambda s: "|" not in s),
    st.booleans(),
)
def test_bucket_round_trip_for_any_valid_name(category: str, language: str, sign: bool) -> None:
    needs = Needs(category, language, sign)
    assert Needs.from_bucket(needs.bucket) == needs


def test_equal_needs_share_one_bucket_and_sign_language_gets_its_own() -> None:
    assert Needs("pensions", "ar").bucket == PENSIONS_AR.bucket
    assert PENSIONS_AR.bucket != PENSIONS_AR_SIGN.bucket


@pytest.mark.parametrize(
    ("category", "language"),
    [("", "ar"), ("pensions", ""), ("pen|sions", "ar"), ("pensions", "a|r")],
)
def test_needs_refuse_empty_names_and_the_separator(category: str, language: str) -> None:
    with pytest.raises(ValueError, match="non-empty name without"):
        Needs(category, language)


@pytest.mark.parametrize("bucket", ["pensions|ar", "pensions|ar|sl|x", "|ar|-", "pensions||sl"])
def test_from_bucket_refuses_malformed_buckets(bucket: str) -> None:
    with pytest.raises(ValueError):
        Needs.from_bucket(bucket)


@pytest.mark.parametrize("bucket", ["pensions|ar|SL", "pensions|ar|sign", "pensions|ar|"])
def test_from_bucket_refuses_an_unknown_sign_mark(bucket: str) -> None:
    with pytest.raises(ValueError):
        Needs.from_bucket(bucket)


def test_needs_are_ordered_and_hashable() -> None:
    # Frozen and ordered: usable as dict keys and sortable for stable listings.
    assert sorted([PENSIONS_AR_SIGN, Needs("medical", "en"), PENSIONS_AR]) == [
        Needs("medical", "en"),
        PENSIONS_AR,
        PENSIONS_AR_SIGN,
    ]
    assert len({PENSIONS_AR, Needs("pensions", "ar")}) == 1


# --- the queue score ---------------------------------------------------------------------------


def served_first(*customers: tuple[float, int, bool]) -> int:
    """Index of the customer with the lowest score: (enqueued_at, base_priority, front)."""
    scores = [queue_score(t, p, STEP, front) for t, p, front in customers]
    return scores.index(min(scores))


def test_higher_base_priority_goes_first() -> None:
    assert served_first((100, 0, False), (100, 1, False)) == 1
    assert served_first((100, 2, False), (130, 1, False)) == 0


def test_equal_priority_earlier_arrival_goes_first() -> None:
    assert served_first((100, 1, False), (101, 1, False)) == 0
    assert served_first((200, 0, False), (150, 0, False)) == 1


@pytest.mark.parametrize("levels", [1, 2, 5])
def test_aging_lets_a_lower_priority_catch_up_after_step_times_levels(levels: int) -> None:
    high = (1000 + levels * STEP, levels, False)
    # Arrived exactly `levels` steps earlier: the same score, a tie.
    assert queue_score(1000, 0, STEP) == queue_score(*high[:2], STEP)
    # A second more of waiting and the low priority is served first; a second less and it is not.
    assert served_first((999, 0, False), high) == 0
    assert served_first((1001, 0, False), high) == 1


def test_front_of_line_beats_any_priority_and_any_wait() -> None:
    transferred = (10_000_000.0, 0, True)
    old_and_urgent = (0.0, 100, False)  # waited ~4 months with a high priority
    assert served_first(transferred, old_and_urgent) == 0
    assert FRONT_OF_LINE_SECONDS > 100 * STEP + 10_000_000


def test_front_of_line_customers_keep_their_order_among_themselves() -> None:
    assert served_first((500, 0, True), (400, 0, True)) == 1
    assert served_first((400, 0, True), (400, 1, True)) == 1


def test_the_step_scales_the_priority() -> None:
    assert queue_score(1000, 2, 30) == 940
    assert queue_score(1000, 2, 60) == 880
    assert queue_score(1000, 0, 60, front=True) == 1000 - FRONT_OF_LINE_SECONDS


times = st.integers(min_value=0, max_value=10**7)
priorities = st.integers(min_value=0, max_value=10)


@given(times, priorities, times, priorities, st.integers(min_value=0, max_value=10**6))
def test_the_static_score_orders_like_the_effective_priority_at_any_later_moment(
    t1: int, p1: int, t2: int, p2: int, later: int
) -> None:
    # The design's claim: lower score first is the same order as higher effective priority
    # first, at every moment after both joined, so the line never needs rescoring.
    now = max(t1, t2) + later
    s1, s2 = queue_score(t1, p1, STEP), queue_score(t2, p2, STEP)
    e1, e2 = effective_priority(p1, t1, now, STEP), effective_priority(p2, t2, now, STEP)
    # Scores are exact integers here; the effective priorities may round, so compare with slack.
    if s1 < s2:
        assert e1 > e2 - 1e-9
    elif s1 > s2:
        assert e1 < e2 + 1e-9
    else:
        assert e1 == pytest.approx(e2)


def test_effective_priority_adds_a_level_per_step_waited() -> None:
    assert effective_priority(2, 1000, 1000, STEP) == 2
    assert effective_priority(2, 1000, 1090, STEP) == 3.5
    assert effective_priority(0, 0, 600, 30) == 20


def test_effective_priority_never_drops_below_the_base_on_clock_skew() -> None:
    # A join time slightly in the future (another server's clock) must not lower the priority.
    assert effective_priority(1, 1000, 990, STEP) == 1


# --- agent choice ------------------------------------------------------------------------------


def test_longest_idle_ignores_the_calls_taken_today() -> None:
    long_idle_busy = idle_score(100, 12, least_busy=False)
    short_idle_fresh = idle_score(500, 0, least_busy=False)
    assert long_idle_busy < short_idle_fresh


def test_least_busy_prefers_fewer_calls_then_the_longest_idle() -> None:
    busy = idle_score(100, 3, least_busy=True)
    fresh = idle_score(1_800_000_000, 2, least_busy=True)  # epoch seconds: still fewer calls wins
    assert fresh < busy
    assert idle_score(100, 2, least_busy=True) < idle_score(200, 2, least_busy=True)


# --- statistics --------------------------------------------------------------------------------


def test_queue_stats_with_no_data_has_no_rates() -> None:
    stats = queue_stats(PENSIONS_AR, 0, None, {}, now=1000)
    assert (stats.waiting, stats.longest_wait_seconds, stats.joined) == (0, 0.0, 0)
    assert stats.service_level is None
    assert stats.average_speed_of_answer is None
    assert stats.abandonment_rate is None
    assert stats.average_handle_seconds is None


def test_queue_stats_from_counters() -> None:
    counters = {
        "joined": 12,
        "answered": 8,
        "answered_in_time": 6,
        "answer_seconds": 120.0,
        "abandoned": 2,
        "handled": 4,
        "handle_seconds": 1000.0,
    }
    assert set(counters) == set(COUNTERS)
    stats = queue_stats(PENSIONS_AR, 3, 940.0, counters, now=1000)
    assert (stats.waiting, stats.longest_wait_seconds) == (3, 60)
    assert (stats.joined, stats.answered, stats.answered_in_time, stats.abandoned) == (12, 8, 6, 2)
    # In time over everyone who finished waiting, answered or not.
    assert stats.service_level == pytest.approx(6 / 10)
    assert stats.average_speed_of_answer == 15
    assert stats.abandonment_rate == pytest.approx(2 / 10)
    assert stats.average_handle_seconds == 250


def test_abandonment_alone_gives_a_zero_service_level_and_no_speed_of_answer() -> None:
    stats = queue_stats(PENSIONS_AR, 0, None, {"joined": 1, "abandoned": 1}, now=0)
    assert (stats.service_level, stats.abandonment_rate) == (0.0, 1.0)
    assert stats.average_speed_of_answer is None
    assert stats.average_handle_seconds is None  # answered calls are not handled until they end


def test_longest_wait_never_negative() -> None:
    assert queue_stats(PENSIONS_AR, 1, 1010.0, {}, now=1000).longest_wait_seconds == 0.0


def test_estimated_wait() -> None:
    assert estimated_wait(1, 1, 300) == 300
    assert estimated_wait(4, 2, 300) == 600
    assert estimated_wait(3, 0, 300) is None  # nobody qualified at work: no honest estimate
    assert estimated_wait(3, -1, 300) is None


def test_only_working_agents_are_staffed() -> None:
    assert {AgentState.OFFLINE, AgentState.AWAY}.isdisjoint(STAFFED_STATES)
    assert STAFFED_STATES | {AgentState.OFFLINE, AgentState.AWAY} == set(AgentState)
    assert frozenset({AgentState.AVAILABLE, AgentState.AWAY, AgentState.OFFLINE}) == (
        SETTABLE_STATES
    )


def test_agents_by_state_counts_every_state() -> None:
    counts = agents_by_state(
        {"a": AgentState.AVAILABLE, "b": AgentState.AVAILABLE, "c": AgentState.WRAP_UP}
    )
    assert counts[AgentState.AVAILABLE] == 2 and counts[AgentState.WRAP_UP] == 1
    assert counts[AgentState.OFFLINE] == 0 and set(counts) == set(AgentState)


# --- the contact center's day ------------------------------------------------------------------

DAY = 86400
TEHRAN = 3.5 * 3600


def test_day_number_in_utc() -> None:
    assert day_number(0) == 0
    assert day_number(DAY - 0.001) == 0
    assert day_number(DAY) == 1


def test_day_number_follows_the_contact_centers_zone_and_its_daylight_saving() -> None:
    def utc(*parts: int) -> float:
        return datetime(*parts, tzinfo=UTC).timestamp()

    riyadh, new_york = ZoneInfo("Asia/Riyadh"), ZoneInfo("America/New_York")
    assert day_number(utc(2026, 11, 22, 20, 59), riyadh) == day_number(utc(2026, 11, 22, 12))
    assert day_number(utc(2026, 11, 22, 21, 0), riyadh) == day_number(utc(2026, 11, 23, 12))
    # New York's midnight is 04:00 UTC in summer and 05:00 UTC in winter.
    assert day_number(utc(2026, 7, 1, 3, 59), new_york) == day_number(utc(2026, 6, 30, 12))
    assert day_number(utc(2026, 7, 1, 4, 0), new_york) == day_number(utc(2026, 7, 1, 12))
    assert day_number(utc(2026, 1, 15, 4, 59), new_york) == day_number(utc(2026, 1, 14, 12))
    assert day_number(utc(2026, 1, 15, 5, 0), new_york) == day_number(utc(2026, 1, 15, 12))
    # UTC as a zone is the same as no offset at all.
    for now in (0.0, DAY - 0.001, DAY, 1_795_000_000.5):
        assert day_number(now, ZoneInfo("UTC")) == day_number(now)


def test_day_number_follows_the_contact_center_offset() -> None:
    # 21:00 UTC is already 00:30 the next day in Tehran.
    assert day_number(21 * 3600, TEHRAN) == 1
    assert day_number(20 * 3600, TEHRAN) == 0
    # West of UTC the day starts later: 02:00 UTC is still yesterday in New York (UTC-5).
    assert day_number(DAY + 2 * 3600, -5 * 3600) == 0
    assert day_number(DAY + 5 * 3600, -5 * 3600) == 1


# --- configuration -----------------------------------------------------------------------------


def test_the_default_configuration_matches_the_domain() -> None:
    config = RoutingConfig()
    assert config.offer_timeout == 20
    assert config.threshold_for(PENSIONS_AR) == 20
    assert config.threshold_for(PENSIONS_AR_SIGN) == 30


@pytest.mark.parametrize(
    "changes",
    [
        {"offer_timeout": 0},
        {"offer_timeout": -1},
        {"wrap_up_seconds": -1},
        {"priority_step_seconds": 0},
        {"max_missed_offers": 0},
    ],
)
def test_routing_config_refuses_impossible_values(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RoutingConfig(**changes)  # type: ignore[arg-type]


def test_routing_config_allows_no_wrap_up_and_a_single_miss() -> None:
    config = RoutingConfig(wrap_up_seconds=0, max_missed_offers=1)
    assert (config.wrap_up_seconds, config.max_missed_offers) == (0, 1)
