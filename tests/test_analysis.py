"""Tests of basewatch.analysis: baselines, change points, posture and the assessment dict.

The seeded series come from basewatch.analysis.simulate (the December 2024 scenario:
Tartus piers, the sometimes-empty Khmeimim main apron, the S-400 position).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basewatch.analysis import (
    AssessParams,
    BaselineParams,
    ChangeParams,
    PostureParams,
    Series,
    ZoneResult,
    airlift_surge,
    assess,
    find_changes,
    fit_count_model,
    judge_series,
    site_posture,
    zone_changes,
)
from basewatch.analysis.changepoint import Change, shift_p_value
from basewatch.analysis.simulate import (
    END,
    SITES,
    khmeimim_apron,
    khmeimim_s400,
    scenario,
    tartus_piers,
)
from basewatch.analysis.simulate import observation as _obs
from basewatch.analysis.simulate import series_by_sensor as _series
from basewatch.errors import InputError
from basewatch.observe import Observation

# --------------------------------------------------------------------------- helpers


def _judge(obs: list[Observation], **kw: object):  # type: ignore[no-untyped-def]
    return judge_series(
        [o.time for o in obs], [o.value for o in obs], [o.clear_fraction for o in obs], **kw
    )


def _significant_drops(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.significant and c.direction == "down"]


def _site(result: dict, site_id: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in result["sites"] if s["site_id"] == site_id)


def _zone_json(result: dict, site_id: str, zone_id: str) -> dict:  # type: ignore[type-arg]
    return next(z for z in _site(result, site_id)["zones"] if z["zone_id"] == zone_id)


# --------------------------------------------------------------------------- baseline


def test_count_model_separates_sometimes_empty_apron_from_never_empty_pier() -> None:
    params = BaselineParams()
    rng = np.random.default_rng(1)
    apron = np.where(rng.random(40) < 0.2, 0, rng.integers(12, 21, 40)).astype(float)
    pier = rng.integers(4, 8, 30).astype(float)
    m_apron = fit_count_model(apron, params=params)
    m_pier = fit_count_model(pier, params=params)
    assert m_apron.pi_low == pytest.approx(np.mean(apron == 0))
    assert m_apron.p_two_sided(0) > 0.1  # an empty pass is routine here
    assert m_pier.pi_low == 0.0
    assert m_pier.p_two_sided(0) < 0.01  # an empty pier is not
    assert m_pier.expected == pytest.approx(pier.mean())
    assert m_apron.p_two_sided(16) > 0.5


def test_apron_zeros_of_september_to_november_are_not_significant() -> None:
    for seed in range(5):
        obs = khmeimim_apron(seed)
        judged = _judge(obs)
        zeros = [
            (o, j)
            for o, j in zip(obs, judged, strict=True)
            if o.value == 0
            and o.clear_fraction >= 0.7
            and date(2024, 9, 1) <= o.time.date() <= date(2024, 11, 30)
        ]
        assert len(zeros) >= 3, f"seed {seed}: scenario should hold routine empty passes"
        for o, j in zeros:
            assert j.conclusive, (seed, o.time)
            assert not j.significant, (seed, o.time, j.p_value)
            assert j.low_share is not None and j.low_share > 0.05


def test_first_empty_pier_image_is_significant_against_its_history() -> None:
    obs = [o for o in tartus_piers(3) if o.sensor == "sentinel-1"]
    judged = _judge(obs)
    first_empty = next(
        (o, j) for o, j in zip(obs, judged, strict=True) if o.time.date() > date(2024, 12, 2)
    )
    o, j = first_empty
    assert o.value is not None and o.value <= 1
    assert j.conclusive and j.significant and j.direction == "low"
    assert j.p_value is not None and j.p_value < 0.01
    assert j.expected is not None and 4.0 < j.expected < 7.0
    assert "below" in j.reason


def test_judgement_is_not_conclusive_for_short_history_cloud_or_missing_value() -> None:
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    times = [t0 + timedelta(days=5 * i) for i in range(10)]
    values: list[float | None] = [5, 6, 4, 5, 6, 5, 0, 0, None, 0]
    clear = [1.0] * 10
    clear[7] = 0.3
    judged = judge_series(times, values, clear, params=BaselineParams())
    assert not judged[0].conclusive and judged[0].expected is None
    assert "short history" in judged[3].reason and not judged[3].significant
    assert judged[6].conclusive and judged[6].significant
    assert not judged[7].conclusive and "poor image" in judged[7].reason
    assert not judged[8].conclusive and judged[8].p_value is None
    assert "no usable value" in judged[8].reason


def test_judge_series_returns_judgements_in_input_order() -> None:
    obs = tartus_piers(4)
    order = list(range(len(obs)))
    random.Random(0).shuffle(order)
    shuffled = [obs[i] for i in order]
    direct = _judge(obs)
    again = _judge(shuffled)
    for k, i in enumerate(order):
        assert again[k] == direct[i]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"min_clear": -0.1},
        {"min_history": 1},
        {"min_history": 2.5},
        {"window_days": 0},
        {"empty_fraction": 2.0},
    ],
)
def test_bad_baseline_params_raise_input_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        BaselineParams(**kwargs)  # type: ignore[arg-type]


def test_bad_series_inputs_raise_input_error() -> None:
    t = [datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC)]
    with pytest.raises(InputError, match="values"):
        judge_series(t, [1.0], [1.0, 1.0])
    with pytest.raises(InputError, match="clear"):
        judge_series(t, [1.0, 2.0], [1.0, 1.4])
    with pytest.raises(InputError, match=">= 0"):
        judge_series(t, [1.0, -2.0], [1.0, 1.0])
    with pytest.raises(InputError):
        find_changes(t, [1.0])


# --------------------------------------------------------------------------- change points


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tartus_departure_is_dated_within_six_days(seed: int) -> None:
    changes = zone_changes(_series(tartus_piers(seed)))
    drops = _significant_drops(changes)
    assert len(drops) == 1, changes
    c = drops[0]
    assert c.after.date() <= date(2024, 12, 2) <= c.before.date()
    assert (c.before - c.after) <= timedelta(days=6)
    assert c.level_from >= 4 and c.level_to <= 1
    assert c.p_value < 0.001
    assert "sentinel-1" in c.sensors
    assert not [x for x in changes if x.significant and x is not c]


def test_tartus_bracket_uses_both_sensors() -> None:
    """The S2 image of 1 December (ships present) narrows the S1 bracket 27 Nov - 3 Dec."""
    obs = tartus_piers(0)
    s2_dec1 = [o for o in obs if o.sensor == "sentinel-2" and o.time.date() == date(2024, 12, 1)]
    assert s2_dec1 and s2_dec1[0].clear_fraction >= 0.7 and (s2_dec1[0].value or 0) >= 3
    s1_only = _significant_drops(
        zone_changes(_series([o for o in obs if o.sensor != "sentinel-2"]))
    )
    both = _significant_drops(zone_changes(_series(obs)))
    assert s1_only[0].after.date() == date(2024, 11, 27)
    assert both[0].after.date() == date(2024, 12, 1)
    assert both[0].before.date() == date(2024, 12, 3)
    assert set(both[0].dated_with) == {"sentinel-1", "sentinel-2"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_s400_removal_is_dated_within_eight_days(seed: int) -> None:
    drops = _significant_drops(zone_changes(_series(khmeimim_s400(seed))))
    assert len(drops) == 1
    c = drops[0]
    assert c.after.date() <= date(2024, 12, 10) <= c.before.date()
    assert (c.before - c.after) <= timedelta(days=8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apron_drop_is_not_conclusive_on_5_december_but_significant_by_15_december(
    seed: int,
) -> None:
    obs = khmeimim_apron(seed)
    early = zone_changes(_series(obs, until=date(2024, 12, 5)))
    assert not [c for c in early if c.significant]
    later = _significant_drops(zone_changes(_series(obs, until=date(2024, 12, 15))))
    assert len(later) == 1
    c = later[0]
    assert date(2024, 11, 25) <= c.before.date() <= date(2024, 12, 15)
    assert c.after.date() <= date(2024, 12, 4)
    assert c.level_to <= 5 and c.level_from >= 12


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_series_without_change_give_no_significant_change(seed: int) -> None:
    for obs in (
        tartus_piers(seed, drop=None),
        khmeimim_apron(seed, change=False),
        khmeimim_s400(seed, change=False),
    ):
        changes = zone_changes(_series(obs))
        assert not [c for c in changes if c.significant], (obs[0].zone_id, changes)


def test_single_dip_is_not_a_change_and_short_tail_is_a_candidate() -> None:
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    values = [6.0, 5, 7, 6, 5, 6, 7, 5, 6, 0, 6, 5, 7, 6, 5, 6, 0]
    times = [t0 + timedelta(days=6 * i) for i in range(len(values))]
    changes = find_changes(times, values)
    assert len(changes) == 1
    cand = changes[0]
    assert not cand.significant and cand.direction == "down"
    assert cand.before == times[-1] and cand.after == times[-2]
    assert "need 2" in cand.reason


def test_find_changes_degenerate_inputs() -> None:
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    assert find_changes([], []) == []
    assert find_changes([t0], [3.0]) == []
    times = [t0 + timedelta(days=i) for i in range(12)]
    assert find_changes(times, [None] * 12) == []
    assert find_changes(times, [4.0] * 12, clear=[0.1] * 12) == []
    assert zone_changes([]) == []


def test_sub_metre_image_outweighs_a_sentinel2_drop() -> None:
    """S2 sees the apron empty (e.g. a detector failure); a 0.5 m image shows it full."""
    rng = np.random.default_rng(5)
    t0 = datetime(2024, 8, 1, 8, tzinfo=UTC)
    s2_times = [t0 + timedelta(days=5 * i) for i in range(30)]
    s2_values = [float(rng.integers(12, 19)) if i < 25 else 0.0 for i in range(30)]
    s2 = Series(sensor="sentinel-2", times=tuple(s2_times), values=tuple(s2_values),
                clear=(1.0,) * 30)  # fmt: skip
    alone = _significant_drops(zone_changes([s2]))
    assert len(alone) == 1
    hr_times = (t0 + timedelta(days=40), t0 + timedelta(days=80), s2_times[27] + timedelta(hours=3))
    hr = Series(sensor="highres", times=hr_times, values=(15.0, 16.0, 15.0), clear=(1.0,) * 3)
    merged = zone_changes([s2, hr])
    assert not _significant_drops(merged)
    assert any("contradicted" in c.reason and "highres" in c.reason for c in merged)


def test_shift_p_value_is_small_for_a_run_of_empty_passes_only_where_emptiness_is_rare() -> None:
    params = BaselineParams()
    rng = np.random.default_rng(2)
    pier = rng.integers(4, 8, 30).astype(float)
    apron = np.where(rng.random(40) < 0.2, 0, rng.integers(12, 21, 40)).astype(float)
    two_zeros = np.zeros(2)
    assert shift_p_value(pier, two_zeros, "down", params=params) < 1e-3
    assert shift_p_value(apron, two_zeros, "down", params=params) > 0.01
    assert shift_p_value(apron, np.array([3.0, 1, 5, 2]), "down", params=params) < 0.01
    with pytest.raises(InputError):
        shift_p_value(pier, two_zeros, "sideways", params=params)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_persist": 0},
        {"penalty_scale": -1},
        {"min_shift": 1.5},
        {"dating_lr": 0.5},
        {"tail_scan": -1},
        {"tail_scan": 2.5},
    ],
)
def test_bad_change_params_raise_input_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        ChangeParams(**kwargs)  # type: ignore[arg-type]


def test_short_final_run_on_a_sometimes_empty_apron_is_found_by_the_tail_scan() -> None:
    # three months of a Sentinel-2 apron empty on 5 of 13 clear passes, then the withdrawal
    # (0, 2, 3, 0 aircraft): PELT's penalty, scaled to the empty passes, proposes no cut there
    counts = [15, 12, 0, 18, 0, 15, 15, 18, 0, 0, 10, 0, 12, 0, 2, 3, 0]
    t0 = datetime(2024, 9, 2, 8, tzinfo=UTC)
    times = [t0 + timedelta(days=6 * i) for i in range(len(counts))]
    values = [float(c) for c in counts]
    (drop,) = [c for c in find_changes(times, values) if c.significant]
    assert drop.direction == "down" and drop.level_to <= 2
    assert drop.before >= times[13] and drop.after <= times[12]
    assert drop.p_value < 0.01
    pelt_only = find_changes(times, values, params=ChangeParams(tail_scan=0))
    assert not [c for c in pelt_only if c.significant]
    # the same data without the final run: nothing to find
    assert not [c for c in find_changes(times[:13], values[:13]) if c.significant]


# --------------------------------------------------------------------------- posture


def _flights(surge_from: date | None, seed: int = 0) -> list[tuple[date, int]]:
    rng = np.random.default_rng(seed)
    out = []
    day = date(2024, 9, 1)
    while day <= END:
        rate = 3.4 if surge_from is not None and day >= surge_from else 0.14
        out.append((day, int(rng.poisson(rate))))
        day += timedelta(days=1)
    return out


def test_airlift_surge_is_found_and_dated() -> None:
    surge = airlift_surge(_flights(date(2024, 12, 6)), as_of=END)
    assert surge is not None and surge.significant
    assert date(2024, 12, 6) <= surge.start <= date(2024, 12, 8)
    assert 2.0 < surge.rate < 5.0 and surge.baseline_rate < 0.4
    assert surge.p_value < 0.001
    assert surge.sentence.startswith("heavy-transport departures: ")
    assert f"since {surge.start:%Y-%m-%d}" in surge.sentence and "/day before" in surge.sentence


def test_no_airlift_surge_in_routine_traffic() -> None:
    for seed in range(5):
        surge = airlift_surge(_flights(None, seed), as_of=END)
        assert surge is None or not surge.significant


def test_airlift_records_are_validated() -> None:
    with pytest.raises(InputError):
        airlift_surge([("2024-12-01", 3)])  # type: ignore[list-item]
    with pytest.raises(InputError):
        airlift_surge([(date(2024, 12, 1), -1)])
    with pytest.raises(InputError):
        airlift_surge([(date(2024, 12, 1),)])  # type: ignore[list-item]
    assert airlift_surge([]) is None


def _change(level_from: float, level_to: float, p: float, n_after: int) -> Change:
    return Change(
        after=datetime(2024, 12, 1, tzinfo=UTC),
        before=datetime(2024, 12, 3, tzinfo=UTC),
        direction="down" if level_to < level_from else "up",
        level_from=level_from,
        level_to=level_to,
        significant=True,
        p_value=p,
        n_after=n_after,
        sensors=("sentinel-1",),
    )


def _zr(zone_id: str, *changes: Change, n: int = 40, metric: str = "ship_count") -> ZoneResult:
    return ZoneResult(
        zone_id=zone_id,
        metric=metric,
        changes=changes,
        n_observations=n,
        n_clear=n,
        n_conclusive=max(n - 6, 0),
        last_clear=datetime(2024, 12, 15, tzinfo=UTC) if n else None,
        level=6.0 if n else None,
        reason="" if n else "no observations",
    )


def test_posture_rules() -> None:
    site = SITES[1]
    as_of = datetime(2024, 12, 16, tzinfo=UTC)
    empty = _change(6, 0, 1e-6, 4)
    res = site_posture(site, [_zr("piers", empty)], as_of=as_of)
    assert res.posture == "withdrawn" and res.confidence > 0.7
    assert res.indicators[0] == (
        "piers: 6 -> 0 vessels between 2024-12-01 and 2024-12-03 "
        "(p < 0.001; 4 clear observation(s) at the new level; sentinel-1)"
    )
    young = _change(6, 0, 1e-4, 2)
    assert site_posture(site, [_zr("piers", young)], as_of=as_of).posture == "withdrawing"
    two = [_zr("a", empty), _zr("b")]
    assert site_posture(site, two, as_of=as_of).posture == "withdrawing"
    partial = _change(16, 8, 1e-4, 4)
    assert site_posture(site, [_zr("a", partial), _zr("b")], as_of=as_of).posture == "reduced"
    rise = _change(6, 12, 1e-4, 4)
    assert site_posture(site, [_zr("a", rise)], as_of=as_of).posture == "reinforcing"
    steady = site_posture(site, [_zr("a"), _zr("b", n=0)], as_of=as_of)
    assert steady.posture == "present" and 0 < steady.confidence <= 0.5
    old_change = site_posture(site, [_zr("a", empty)], as_of=as_of + timedelta(days=400))
    assert old_change.posture == "unknown"  # latest clear image too old


def test_posture_is_withdrawing_on_airlift_alone() -> None:
    res = site_posture(
        SITES[0], [_zr("main-apron", metric="aircraft_count")],
        flights={"khmeimim": _flights(date(2024, 12, 6))}, as_of=END,
    )  # fmt: skip
    assert res.posture == "withdrawing"
    assert any(i.startswith("heavy-transport departures:") for i in res.indicators)
    assert res.surge is not None


def test_posture_unknown_without_conclusive_data() -> None:
    res = site_posture(SITES[1], [_zr("piers", n=0)], as_of=END)
    assert res.posture == "unknown" and res.confidence == 0.0
    assert "no observations" in res.indicators[0]
    with pytest.raises(InputError):
        PostureParams(min_drop=1.5)
    with pytest.raises(InputError):
        PostureParams(withdrawn_min_obs=0)


# --------------------------------------------------------------------------- assess


def test_assessment_of_the_december_2024_scenario() -> None:
    result = assess(scenario(0), SITES, generated=datetime(2025, 1, 1, tzinfo=UTC))
    json.dumps(result)  # JSON-ready
    assert result["generated"] == "2025-01-01T00:00:00Z"
    assert result["as_of"].startswith("2024-12-20")
    tartus = _site(result, "tartus")
    assert tartus["posture"] in ("withdrawing", "withdrawn")
    assert tartus["confidence"] > 0.5
    assert tartus["indicators"][0].startswith("piers: ")
    assert "2024-12-01" in tartus["indicators"][0] and "2024-12-03" in tartus["indicators"][0]
    piers = _zone_json(result, "tartus", "piers")
    assert piers["metric"] == "ship_count" and set(piers["sensors"]) == {"sentinel-1", "sentinel-2"}
    (drop,) = [c for c in piers["changes"] if c["significant"]]
    assert drop["direction"] == "down" and drop["from"] >= 4 and drop["to"] == 0
    assert drop["after"] <= "2024-12-02" <= drop["before"]
    first_empty = next(o for o in piers["observations"] if o["time"] > "2024-12-02T23")
    assert set(first_empty) >= {
        "time", "sensor", "scene_id", "value", "clear_fraction", "expected", "p_value",
        "significant", "conclusive",
    }  # fmt: skip
    assert first_empty["significant"] and first_empty["expected"] > 3

    khmeimim = _site(result, "khmeimim")
    assert khmeimim["posture"] in ("reduced", "withdrawing", "withdrawn")
    apron = _zone_json(result, "khmeimim", "main-apron")
    assert [c for c in apron["changes"] if c["significant"] and c["direction"] == "down"]
    routine = [
        o for o in apron["observations"]
        if o["value"] == 0 and "2024-09" <= o["time"] < "2024-12" and o["conclusive"]
    ]  # fmt: skip
    assert len(routine) >= 3 and not any(o["significant"] for o in routine)
    transport = _zone_json(result, "khmeimim", "transport-apron")
    assert transport["status"] == "unknown" and transport["observations"] == []


def test_as_of_limits_the_evidence() -> None:
    obs = scenario(1)
    early = assess(obs, SITES, as_of=date(2024, 12, 5))
    assert early["as_of"] == "2024-12-05T23:59:59Z"
    assert all(o["time"] <= early["as_of"] for s in early["sites"] for z in s["zones"]
               for o in z["observations"])  # fmt: skip
    apron = _zone_json(early, "khmeimim", "main-apron")
    assert not [c for c in apron["changes"] if c["significant"]]
    assert _site(early, "khmeimim")["posture"] == "present"
    assert _site(early, "tartus")["posture"] == "present"
    assert any("not conclusive" in i for i in _site(early, "tartus")["indicators"])
    later = assess(obs, SITES, as_of=datetime(2024, 12, 15, 23, tzinfo=UTC))
    apron = _zone_json(later, "khmeimim", "main-apron")
    assert [c for c in apron["changes"] if c["significant"] and c["direction"] == "down"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assessment_without_change_is_present(seed: int) -> None:
    result = assess(scenario(seed, change=False), SITES)
    for site in result["sites"]:
        assert site["posture"] == "present", site["indicators"]
        assert 0 < site["confidence"] <= 1


def test_assessment_is_deterministic_and_order_free() -> None:
    obs = scenario(2)
    shuffled = list(obs)
    random.Random(1).shuffle(shuffled)
    a = assess(obs, SITES, as_of=date(2024, 12, 18))
    b = assess(shuffled, {s.id: s for s in SITES}, as_of=date(2024, 12, 18))
    assert a == b
    assert a["generated"] is None


def test_airlift_turns_a_quiet_site_to_withdrawing() -> None:
    flights = {"khmeimim": _flights(date(2024, 12, 6))}
    result = assess(scenario(0, change=False), SITES, flights=flights)
    khmeimim = _site(result, "khmeimim")
    assert khmeimim["posture"] == "withdrawing"
    assert any("heavy-transport departures" in i for i in khmeimim["indicators"])
    assert _site(result, "tartus")["posture"] == "present"


def test_degenerate_inputs_give_unknown_not_exceptions() -> None:
    empty = assess([], SITES)
    assert [s["posture"] for s in empty["sites"]] == ["unknown", "unknown"]
    assert empty["as_of"] is None
    assert "no observations" in _site(empty, "tartus")["indicators"][0]
    assert assess([], []) == {"generated": None, "as_of": None, "sites": []}

    t = datetime(2024, 12, 1, 8, tzinfo=UTC)
    one = assess([_obs("tartus", "piers", "sentinel-1", "ship_count", t, 5.0, 1.0)], SITES)
    assert _site(one, "tartus")["posture"] == "unknown"
    assert "only 1 clear observation" in _site(one, "tartus")["indicators"][0]

    nones = [
        _obs("tartus", "piers", "sentinel-2", "ship_count", t + timedelta(days=i), None, 0.1)
        for i in range(8)
    ]
    res = assess(nones, SITES)
    assert _site(res, "tartus")["posture"] == "unknown"
    assert "no usable value" in _site(res, "tartus")["indicators"][0]
    assert "cloudy" in _site(res, "tartus")["indicators"][0]

    cloudy = [
        _obs("tartus", "piers", "sentinel-2", "ship_count", t + timedelta(days=i), 3.0, 0.4)
        for i in range(8)
    ]
    res = assess(cloudy, SITES)
    assert _site(res, "tartus")["posture"] == "unknown"
    assert "no clear observation" in _site(res, "tartus")["indicators"][0]
    piers = _zone_json(res, "tartus", "piers")
    assert len(piers["observations"]) == 8
    assert not any(o["conclusive"] for o in piers["observations"])


def test_newest_detector_version_wins_and_other_sites_are_ignored() -> None:
    t = datetime(2024, 12, 1, 8, tzinfo=UTC)
    base = _obs("tartus", "piers", "sentinel-1", "ship_count", t, 5.0, 1.0)
    newer = Observation(**{**base.__dict__, "detector_version": "1.10", "value": 6.0})
    older = Observation(**{**base.__dict__, "detector_version": "1.9", "value": 2.0})
    other = Observation(**{**base.__dict__, "site_id": "hmeimim-typo"})
    res = assess([older, newer, other], SITES)
    (obs,) = _zone_json(res, "tartus", "piers")["observations"]
    assert obs["value"] == 6
    assert [s["site_id"] for s in res["sites"]] == ["khmeimim", "tartus"]


def test_bad_assess_inputs_raise_input_error() -> None:
    with pytest.raises(InputError):
        assess(["not an observation"], SITES)  # type: ignore[list-item]
    with pytest.raises(InputError):
        assess([], ["khmeimim"])
    with pytest.raises(InputError):
        assess([], SITES, flights=[(date(2024, 12, 1), 3)])  # type: ignore[arg-type]
    with pytest.raises(InputError):
        assess([], SITES, as_of="2024-12-05")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        AssessParams(changes=BaselineParams())  # type: ignore[arg-type]


def test_invalid_observation_values_name_the_scene() -> None:
    t = datetime(2024, 12, 1, 8, tzinfo=UTC)
    bad = _obs("tartus", "piers", "sentinel-1", "ship_count", t, -3.0, 1.0)
    with pytest.raises(InputError, match="sentinel-1-20241201T0800"):
        assess([bad], SITES)
    bad = _obs("tartus", "piers", "sentinel-1", "ship_count", t, 3.0, 1.0)
    bad = Observation(**{**bad.__dict__, "clear_fraction": 1.5})
    with pytest.raises(InputError, match="clear_fraction"):
        assess([bad], SITES)


def test_sub_metre_image_inside_the_bracket_narrows_it() -> None:
    obs = [o for o in tartus_piers(1) if o.sensor == "sentinel-1"]
    s1 = _significant_drops(zone_changes(_series(obs)))[0]
    assert (s1.after.date(), s1.before.date()) == (date(2024, 11, 27), date(2024, 12, 3))
    hr = [
        _obs("tartus", "piers", "highres", "ship_count", datetime(2024, 11, 30, 10, tzinfo=UTC),
             6.0, 1.0),
        _obs("tartus", "piers", "highres", "ship_count", datetime(2024, 12, 2, 10, tzinfo=UTC),
             0.0, 1.0),
    ]  # fmt: skip
    (both,) = _significant_drops(zone_changes(_series(obs + hr)))
    assert (both.after.date(), both.before.date()) == (date(2024, 11, 30), date(2024, 12, 2))
    assert both.dated_with == ("highres",)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.one_of(st.none(), st.integers(0, 40).map(float)),
            st.sampled_from([0.0, 0.5, 0.69, 0.7, 1.0]),
            st.sampled_from(["sentinel-1", "sentinel-2", "highres"]),
        ),
        max_size=60,
    )
)
def test_assess_never_fails_on_valid_observations(
    rows: list[tuple[int, float | None, float, str]],
) -> None:
    t0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
    obs = [
        Observation(
            **{
                **_obs("tartus", "piers", sensor, "ship_count", t0, value, clear).__dict__,
                "time": t0 + timedelta(days=day),
                "scene_id": f"{sensor}-{k}",
            }
        )
        for k, (day, value, clear, sensor) in enumerate(rows)
    ]
    result = assess(obs, SITES)
    tartus = _site(result, "tartus")
    assert tartus["posture"] in ("present", "reduced", "withdrawing", "withdrawn",
                                 "reinforcing", "unknown")  # fmt: skip
    assert 0.0 <= tartus["confidence"] <= 1.0
    assert len(_zone_json(result, "tartus", "piers")["observations"]) == len(obs)
    json.dumps(result)


def test_one_image_per_sensor_at_the_new_level_is_persistent_across_sensors() -> None:
    """S1 has seen the S-400 position empty once (12 December), a 0.5 m image once
    (13 December): together that is two clear observations at the new level."""
    s1 = [o for o in khmeimim_s400(0) if o.time.date() <= date(2024, 12, 13)]
    assert [o.value for o in s1 if o.time.date() > date(2024, 12, 10)] == [0.0]
    alone = zone_changes(_series(s1))
    assert not _significant_drops(alone)
    assert alone and not alone[-1].significant and "need 2" in alone[-1].reason
    hr = _obs("khmeimim", "s400-position", "highres", "vehicle_count",
              datetime(2024, 12, 13, 10, tzinfo=UTC), 0.0, 1.0)  # fmt: skip
    (drop,) = _significant_drops(zone_changes(_series([*s1, hr])))
    assert drop.after.date() == date(2024, 12, 9)
    assert drop.before.date() == date(2024, 12, 12)
    assert set(drop.sensors) == {"highres", "sentinel-1"}
    assert drop.n_after == 2


def test_a_change_of_one_object_does_not_move_the_posture() -> None:
    site = SITES[0]
    as_of = datetime(2024, 12, 16, tzinfo=UTC)
    tiny = _change(0, 1, 1e-4, 10)
    res = site_posture(site, [_zr("transport-apron", tiny, metric="aircraft_count")], as_of=as_of)
    assert res.posture == "present"
    assert "too small a change to matter" in res.indicators[0]
    gone = _change(1, 0, 1e-4, 10)
    assert site_posture(site, [_zr("transport-apron", gone)], as_of=as_of).posture == "present"


@pytest.mark.parametrize(
    ("history", "boundary", "new"),
    [
        # six vessels at a pier; the last pass before the drop misses two of them
        ([6.0, 5, 7, 6, 4, 6, 5, 7, 6, 6, 5, 6] * 3, 4.0, [3.0, 3, 3]),
        # four aircraft on an apron, three to five; three passes with two
        ([4.0, 3, 5, 4, 4, 3, 5, 3, 4, 4, 5, 4] * 3, 4.0, [2.0, 2, 2]),
    ],
)
def test_halving_of_a_small_count_is_found_within_three_passes(
    history: list[float], boundary: float, new: list[float]
) -> None:
    """A 50 % drop of a small count is significant after three passes, and its bracket
    holds the true change (between ``boundary``, still the old level, and the first new
    pass) even though the new values are not clearly new by likelihood ratio."""
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    values = [*history, boundary, *new]
    times = [t0 + timedelta(days=5 * i) for i in range(len(values))]
    drops = [c for c in find_changes(times, values) if c.direction == "down" and c.significant]
    assert len(drops) == 1, drops
    last_old, first_new = times[len(history)], times[len(history) + 1]
    assert drops[0].after <= last_old and drops[0].before >= first_new
    assert drops[0].level_to == min(new)


def test_passes_just_before_a_drop_that_look_new_widen_the_bracket() -> None:
    """Four aircraft on an apron, the last two passes before they leave each miss two (a
    count of 2, as after the drop): the data cannot tell when the drop happened among
    them, so the bracket spans them and holds the true change."""
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    history = [4.0, 3, 5, 4, 4, 3, 5, 3, 4, 4, 5, 4] * 3
    values = [*history, 2.0, 2.0, 2.0, 2.0, 2.0]
    times = [t0 + timedelta(days=5 * i) for i in range(len(values))]
    (drop,) = _significant_drops(find_changes(times, values))
    last_old, first_new = times[len(history) + 1], times[len(history) + 2]
    assert drop.after <= times[len(history) - 1] < last_old
    assert drop.before >= first_new
    tight = find_changes(times, values, params=ChangeParams(dating_lr=1.0))
    assert _significant_drops(tight)[0].before < first_new


def test_one_sensor_s_drop_dated_by_the_other_to_its_last_image_is_not_significant() -> None:
    """Tartus without change (seed 90): Sentinel-2 alone sees a significant drop of the
    vessel count, but a Sentinel-1 image shows the old level the day before the last
    Sentinel-2 image, so the new level has held for one image only."""
    obs = tartus_piers(90, drop=None)
    alone = zone_changes(_series([o for o in obs if o.sensor == "sentinel-2"]))
    assert [c.direction for c in alone if c.significant] == ["down"]
    (both,) = [c for c in zone_changes(_series(obs)) if c.direction == "down"]
    assert not both.significant
    assert both.after.date() == date(2024, 12, 15)
    assert both.reason.startswith("only 1 clear observation(s) beyond the old level after")
