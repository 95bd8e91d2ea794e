"""Team-draft interleaving analysis: per-user credit, the preference Δ, its verdict, its A/A.

Every request of an interleaving experiment shows one list drafted from rankers A (the
experiment's first variant) and B (the second); ``events/teams`` says which ranker drafted each
slot. A click (order, GMV) on a slot is credited to that slot's team. Contested slots (both
rankers' best unplaced item) are credited by team as well: their team is the coin flip's, so
their credit is ½ to each ranker in expectation and zero in the difference, while crediting
them to nobody would make the A/A degenerate (``experiments.interleaving`` explains it); how many
clicks landed on contested slots is reported.

Per request, B *wins* when B's credited clicks exceed A's, A wins the other way, else a tie
(a request without clicks is a tie). The preference

    Δ = (wins_B − wins_A) / requests

is a ratio of per-user sums Σ_i d_i / Σ_i n_i (d_i = wins_B − wins_A of user i, n_i its requests),
because the user, not the request, is the independent unit: a user's requests share the user's
taste. Its variance is the delta method's, as for the engine's ratio metrics:

    Var(Δ) = [s²(d) − 2Δ·s(d, n) + Δ²·s²(n)] / (N · n̄²)      (sample moments, ddof = 1)

which equals statsmodels' cluster-robust OLS variance of the request-level ±1/0 outcome on an
intercept, clustered by user (the G / (G − 1) correction is the ddof = 1). The same ratio on the
credited clicks, orders and GMV, (credit_B − credit_A) / requests, is reported beside it. DuckDB
reduces the log to these sums (users, Σn, Σd, Σd², Σdn, Σn²); no row reaches Python.

The verdict reads the preference on wins like ``analysis.decision`` reads a primary metric:
before the planned end the always-valid interval (``analysis.sequential``, N = users), at or after
it the fixed-horizon one; ``ship`` B when it is significantly preferred, ``don't ship`` when A is
(or at the end with no significant preference), else ``keep running``.

A/A calibration (``shoplab.audit.interleaving``: it needs the draft of ``experiments``, which
analysis does not import): with the same ranker on both teams the served list does not depend on
the coin flips, but the teams do; re-drawing the flips on one log gives A/A replications.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Field
from scipy import stats as sps

from shoplab.analysis.scorecard import DecisionInfo, ScorecardNotFoundError, _Model
from shoplab.analysis.sequential import DEFAULT_TUNING_N, confidence_sequence_halfwidth
from shoplab.analysis.spec import ExperimentLike, parse_bound, resolve_experiment
from shoplab.analysis.unit_query import EventTableMissingError, event_files, files_sql, ts_sql
from shoplab.analysis.unit_table import fetch_polars
from shoplab.core import paths
from shoplab.core.atomic import atomic_write_text
from shoplab.core.duck import connect
from shoplab.core.errors import InputError
from shoplab.events.manifest import LogCheck, check_event_log

__all__ = [
    "OUTCOMES",
    "InterleavingScorecard",
    "Outcome",
    "PreferenceRow",
    "PreferenceStatistic",
    "analyze_interleaving",
    "experiment_type",
    "interleaving_decision",
    "interleaving_units",
    "is_interleaving_scorecard",
    "load_interleaving_scorecard",
    "preference_from_units",
    "preference_row",
    "save_interleaving_scorecard",
]

Outcome = Literal["wins", "wins_uncontested", "clicks", "orders", "gmv"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("wins", "wins_uncontested", "clicks", "orders", "gmv")
"""The preference rows: wins per request (the verdict's test), wins counting only uncontested
slots (a contested item credited to neither), then the credit per request of each kind."""


def experiment_type(experiment: object) -> str:
    """``ab`` or ``interleaving`` (an object without a ``type`` is an A/B test).

    Example:
        >>> from types import SimpleNamespace
        >>> experiment_type(SimpleNamespace(type="interleaving")), experiment_type(object())
        ('interleaving', 'ab')
    """
    return str(getattr(experiment, "type", "ab"))


class PreferenceStatistic(NamedTuple):
    """What SQL returns per outcome: the sums behind the ratio Σd / Σn over users.

    Attributes:
        users: N, users with at least one request.
        requests: Σ n_i.
        sum_nn: Σ n_i².
        credit_a, credit_b: Σ of A's and B's credit (wins, clicks, orders or GMV).
        sum_d: Σ d_i, d_i = user i's credit_B − credit_A.
        sum_dd: Σ d_i².
        sum_dn: Σ d_i n_i.
    """

    users: int
    requests: int
    sum_nn: float
    credit_a: float
    credit_b: float
    sum_d: float
    sum_dd: float
    sum_dn: float


class PreferenceRow(_Model):
    """The preference of one outcome: (credit_B − credit_A) / requests, user-clustered.

    ``status``: ``ok``, ``too_few_units`` (fewer than 2 users) or ``zero_variance`` (every user's
    linearized difference is 0, e.g. no clicks at all: no test); then the inference is None.
    """

    outcome: Outcome
    status: Literal["ok", "too_few_units", "zero_variance", "no_data"]
    users: int
    requests: int
    credit_a: float
    credit_b: float
    delta: float | None = Field(None, description="(credit_B − credit_A) / requests")
    se: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    cs_lower: float | None = Field(None, description="always-valid interval (N = users)")
    cs_upper: float | None = None
    pvalue: float | None = Field(None, description="two-sided z test of delta == 0")


def preference_from_units(
    d: NDArray[np.float64], n: NDArray[np.float64], credit_a: float = 0.0, credit_b: float = 0.0
) -> PreferenceStatistic:
    """The sums of :class:`PreferenceStatistic` from per-user differences ``d`` and requests ``n``.

    What the SQL computes, for callers that hold per-user arrays (the A/A replications).

    Example:
        >>> s = preference_from_units(np.array([1.0, 2.0, 0.0]), np.array([1.0, 2.0, 3.0]))
        >>> s.users, s.requests, s.sum_dn
        (3, 6, 5.0)
    """
    d = np.asarray(d, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if d.shape != n.shape or d.ndim != 1:
        raise InputError(f"d.shape == {d.shape}, n.shape == {n.shape}: must be equal and 1-D.")
    return PreferenceStatistic(
        users=int(d.size),
        requests=int(n.sum()),
        sum_nn=float(n @ n),
        credit_a=credit_a,
        credit_b=credit_b,
        sum_d=float(d.sum()),
        sum_dd=float(d @ d),
        sum_dn=float(d @ n),
    )


def preference_row(
    outcome: Outcome,
    s: PreferenceStatistic,
    *,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
) -> PreferenceRow:
    """The delta-method row of one outcome from its sums (see the module docstring).

    Example:
        >>> s = PreferenceStatistic(users=3, requests=6, sum_nn=14.0, credit_a=1.0,
        ...                         credit_b=4.0, sum_d=3.0, sum_dd=5.0, sum_dn=7.0)
        >>> r = preference_row("wins", s)
        >>> r.delta, round(r.se, 6)  # d = (1, 0, 2), n = (1, 2, 3): var 0.75 / (3 · 2²)
        (0.5, 0.25)
    """
    base: dict[str, Any] = {
        "outcome": outcome,
        "users": s.users,
        "requests": s.requests,
        "credit_a": s.credit_a,
        "credit_b": s.credit_b,
    }
    if s.users == 0 or s.requests == 0:
        return PreferenceRow(status="no_data", **base)
    n = float(s.users)
    delta = s.sum_d / s.requests
    if s.users < 2:
        return PreferenceRow(status="too_few_units", delta=delta, **base)
    mean_n = s.requests / n
    var_d = (s.sum_dd - s.sum_d**2 / n) / (n - 1)
    var_n = (s.sum_nn - s.requests**2 / n) / (n - 1)
    cov = (s.sum_dn - s.sum_d * s.requests / n) / (n - 1)
    var = max((var_d - 2 * delta * cov + delta**2 * var_n) / (n * mean_n**2), 0.0)
    se = math.sqrt(var)
    # a relative floor: an all-zero difference leaves rounding noise of ~1e-17, not a variance
    if se <= 1e-12 * max(1.0, abs(delta)):
        return PreferenceRow(status="zero_variance", delta=delta, se=0.0, **base)
    z = float(sps.norm.ppf(1 - alpha / 2))
    hw = float(confidence_sequence_halfwidth(se, n, alpha=alpha, tuning_n=tuning_n))
    return PreferenceRow(
        status="ok",
        delta=delta,
        se=se,
        ci_lower=delta - z * se,
        ci_upper=delta + z * se,
        cs_lower=delta - hw,
        cs_upper=delta + hw,
        pvalue=float(2 * sps.norm.sf(abs(delta) / se)),
        **base,
    )


InterleavingStatus = Literal["ok", "unvalidated_log", "draft", "no_exposures"]


class InterleavingScorecard(_Model):
    """The analysis of one interleaving experiment: its own scorecard type (``type``).

    Saved beside the A/B scorecards (``<scorecards_dir>/<experiment>.json``); ``type`` tells the
    two apart. ``rows`` has one :class:`PreferenceRow` per outcome of :data:`OUTCOMES`.
    """

    type: Literal["interleaving"] = "interleaving"
    experiment: str
    layer: str
    ranker_a: str = Field(description="the experiment's first variant (team A)")
    ranker_b: str = Field(description="its second variant (team B)")
    start: datetime
    end: datetime
    as_of: datetime
    window_end: datetime
    generated_at: datetime
    alpha: float
    status: InterleavingStatus
    trustworthy: bool
    warnings: list[str]
    event_log: LogCheck | None = None
    users: int
    requests: int
    impressions: int
    clicks: int
    contested_impressions: int
    contested_clicks: int = Field(description="credited by team like the others (see module)")
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float | None = Field(None, description="requests A won / requests")
    win_rate_b: float | None = None
    tie_rate: float | None = None
    rows: list[PreferenceRow]
    decision: DecisionInfo

    def row(self, outcome: Outcome = "wins") -> PreferenceRow:
        """The preference row of ``outcome``.

        Raises:
            InputError: not an outcome of :data:`OUTCOMES`.
        """
        for r in self.rows:
            if r.outcome == outcome:
                return r
        raise InputError(f"outcome == {outcome!r}, must be one of: {', '.join(OUTCOMES)}.")


def interleaving_decision(
    row: PreferenceRow,
    *,
    ranker_b: str,
    trustworthy: bool,
    status: str,
    as_of: datetime,
    end: datetime,
    alpha: float,
) -> DecisionInfo:
    """Ship B, don't ship, or keep running, from the preference on wins (module docstring).

    Example:
        >>> from datetime import UTC, datetime
        >>> r = PreferenceRow(outcome="wins", status="ok", users=900, requests=9000,
        ...     credit_a=100, credit_b=300, delta=0.022, ci_lower=0.01, ci_upper=0.03,
        ...     cs_lower=0.005, cs_upper=0.04, pvalue=1e-4)
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> interleaving_decision(r, ranker_b="v2", trustworthy=True, status="ok", as_of=t,
        ...                       end=t, alpha=0.05).decision
        'ship'
    """
    interim = as_of < end
    horizon: Literal["always-valid", "fixed-horizon"] = (
        "always-valid" if interim else "fixed-horizon"
    )
    if not trustworthy:
        return DecisionInfo(
            decision="don't ship",
            horizon=horizon,
            reasons=[f"scorecard not trustworthy ({status}): no number in it can be read"],
        )
    lo, hi = (row.cs_lower, row.cs_upper) if interim else (row.ci_lower, row.ci_upper)
    if row.status != "ok" or lo is None or hi is None:
        reason = f"preference on wins not computed ({row.status})"
        return DecisionInfo(
            decision="keep running" if interim else "don't ship",
            horizon=horizon,
            reasons=[reason],
        )
    bounds = f"Δ = {row.delta:+.4g}, interval [{lo:+.4g}, {hi:+.4g}] ({horizon})"
    if lo > 0:
        return DecisionInfo(
            decision="ship",
            horizon=horizon,
            reasons=[f"users significantly prefer {ranker_b} (B): {bounds}"],
        )
    if hi < 0:
        return DecisionInfo(
            decision="don't ship",
            horizon=horizon,
            reasons=[f"users significantly prefer the baseline (A) over {ranker_b}: {bounds}"],
        )
    return DecisionInfo(
        decision="keep running" if interim else "don't ship",
        horizon=horizon,
        reasons=[f"no significant preference: {bounds}"],
    )


# --- the SQL path --------------------------------------------------------------------------


def _users_sql(
    teams: str,
    clicks: str,
    orders: str | None,
    key: str,
    a: str,
    b: str,
    start: datetime,
    end: datetime,
) -> str:
    """One row per user: requests ``n``, ``<outcome>_a`` / ``<outcome>_b`` and the totals."""
    orders_cte = (
        "o AS (SELECT request_id, item_id, count(*) AS orders, "
        "sum(CASE WHEN refunded THEN 0 ELSE gmv END) AS gmv "
        f"FROM read_parquet({orders}) WHERE ts < {ts_sql(end)} GROUP BY ALL)"
        if orders
        else "o AS (SELECT NULL::BIGINT AS request_id, NULL::BIGINT AS item_id, "
        "0::BIGINT AS orders, 0.0::DOUBLE AS gmv WHERE false)"
    )
    lit = "'" + key.replace("'", "''") + "'"
    qa, qb = ("'" + v.replace("'", "''") + "'" for v in (a, b))
    return f"""
    WITH t AS (
        SELECT request_id, user_id, item_id, team, contested FROM read_parquet({teams})
        WHERE experiment = {lit} AND ts >= {ts_sql(start)} AND ts < {ts_sql(end)}
    ),
    c AS (SELECT DISTINCT request_id, item_id FROM read_parquet({clicks})
          WHERE ts < {ts_sql(end)}),
    {orders_cte},
    imp AS (
        SELECT t.user_id, t.request_id, t.team, t.contested,
               (c.request_id IS NOT NULL)::INTEGER AS click,
               coalesce(o.orders, 0) AS orders, coalesce(o.gmv, 0.0) AS gmv
        FROM t LEFT JOIN c USING (request_id, item_id) LEFT JOIN o USING (request_id, item_id)
    ),
    req AS (
        SELECT user_id, request_id,
               coalesce(sum(click) FILTER (WHERE team = {qa}), 0) AS clicks_a,
               coalesce(sum(click) FILTER (WHERE team = {qb}), 0) AS clicks_b,
               coalesce(sum(click) FILTER (WHERE team = {qa} AND NOT contested), 0) AS unc_a,
               coalesce(sum(click) FILTER (WHERE team = {qb} AND NOT contested), 0) AS unc_b,
               coalesce(sum(orders) FILTER (WHERE team = {qa}), 0) AS orders_a,
               coalesce(sum(orders) FILTER (WHERE team = {qb}), 0) AS orders_b,
               coalesce(sum(gmv) FILTER (WHERE team = {qa}), 0.0) AS gmv_a,
               coalesce(sum(gmv) FILTER (WHERE team = {qb}), 0.0) AS gmv_b,
               count(*) AS imps, count(*) FILTER (WHERE contested) AS contested_imps,
               sum(click) AS clicks_all,
               coalesce(sum(click) FILTER (WHERE contested), 0) AS contested_clicks,
               count(*) FILTER (WHERE team NOT IN ({qa}, {qb})) AS other_team
        FROM imp GROUP BY user_id, request_id
    ),
    usr AS (
        SELECT user_id, count(*) AS n,
               sum((clicks_a > clicks_b)::INTEGER) AS wins_a,
               sum((clicks_b > clicks_a)::INTEGER) AS wins_b,
               sum((unc_a > unc_b)::INTEGER) AS wins_uncontested_a,
               sum((unc_b > unc_a)::INTEGER) AS wins_uncontested_b,
               sum(clicks_a) AS clicks_a, sum(clicks_b) AS clicks_b,
               sum(orders_a) AS orders_a, sum(orders_b) AS orders_b,
               sum(gmv_a) AS gmv_a, sum(gmv_b) AS gmv_b,
               sum(imps) AS imps, sum(contested_imps) AS contested_imps,
               sum(clicks_all) AS clicks_all, sum(contested_clicks) AS contested_clicks,
               sum(other_team) AS other_team
        FROM req GROUP BY user_id
    )
    SELECT * FROM usr"""


def _sums_sql(users: str) -> str:
    """One row: the totals and, per outcome, the sums of :class:`PreferenceStatistic`."""
    per_outcome = []
    for out in OUTCOMES:
        d = f"({out}_b - {out}_a)"
        per_outcome += [
            f"sum({out}_a)::DOUBLE",
            f"sum({out}_b)::DOUBLE",
            f"sum({d})::DOUBLE",
            f"sum({d} * {d})::DOUBLE",
            f"sum({d} * n)::DOUBLE",
        ]
    return f"""
    WITH units AS ({users})
    SELECT count(*), coalesce(sum(n), 0), coalesce(sum(n * n), 0)::DOUBLE,
           coalesce(sum(imps), 0), coalesce(sum(contested_imps), 0),
           coalesce(sum(clicks_all), 0), coalesce(sum(contested_clicks), 0),
           coalesce(sum(other_team), 0),
           {", ".join(per_outcome)}
    FROM units
    """


class _Totals(NamedTuple):
    stats: dict[Outcome, PreferenceStatistic]
    impressions: int
    contested_impressions: int
    clicks: int
    contested_clicks: int
    other_team: int


def _users_query(key: str, a: str, b: str, start: datetime, end: datetime) -> str:
    """:func:`_users_sql` over the event files of the window (raises when a table is missing)."""
    first, last = start.date(), end.date()
    teams = event_files("teams", first, last)
    if not teams:
        raise EventTableMissingError(
            f"experiment == {key!r}: events table 'teams' has no Parquet files under "
            f"{paths.events_dir('teams')}, must hold the team of every impression of an "
            "interleaving experiment (served by team-draft interleaving)."
        )
    # a click or order can come a day after its impression (a click just after midnight)
    clicks = event_files("clicks", first, last + timedelta(days=1))
    orders = event_files("orders", first, last + timedelta(days=1))
    if not clicks:
        raise EventTableMissingError(
            f"experiment == {key!r}: events table 'clicks' has no Parquet files under "
            f"{paths.events_dir('clicks')}; needed to credit clicks to the teams."
        )
    return _users_sql(
        files_sql(teams),
        files_sql(clicks),
        files_sql(orders) if orders else None,
        key,
        a,
        b,
        start,
        end,
    )


def _interleaving_sums(key: str, a: str, b: str, start: datetime, end: datetime) -> _Totals:
    query = _users_query(key, a, b, start, end)
    con = connect(ordered=False)
    try:
        got = con.execute(_sums_sql(query)).fetchone()
    finally:
        con.close()
    assert got is not None  # an aggregate without GROUP BY always returns one row
    users, requests, sum_nn = int(got[0]), int(got[1]), float(got[2])
    if users == 0:
        raise EventTableMissingError(
            f"experiment == {key!r}: no rows in events table 'teams' for it in "
            f"[{start.isoformat()}, {end.isoformat()}), must have the teams of its impressions "
            "(is it an interleaving experiment that served traffic in this window?)."
        )
    stats: dict[Outcome, PreferenceStatistic] = {}
    for i, out in enumerate(OUTCOMES):
        ca, cb, sd, sdd, sdn = (float(x) for x in got[8 + 5 * i : 13 + 5 * i])
        stats[out] = PreferenceStatistic(users, requests, sum_nn, ca, cb, sd, sdd, sdn)
    return _Totals(stats, int(got[3]), int(got[4]), int(got[5]), int(got[6]), int(got[7]))


class _Window(NamedTuple):
    start: datetime
    end: datetime
    as_of: datetime
    window_end: datetime
    ranker_a: str
    ranker_b: str


def _window(exp: ExperimentLike, as_of: datetime | date | str | None, now: datetime) -> _Window:
    """The experiment's window [start, min(end, as_of)) and its two rankers (checked)."""
    variants = [str(v.key) for v in exp.variants]
    if len(variants) != 2:
        raise InputError(
            f"experiment {exp.key}: variants == {variants}, must be exactly two for an "
            "interleaving analysis (ranker A, then ranker B)."
        )
    start, end = parse_bound(exp.start, "start"), parse_bound(exp.end, "end")
    as_of_dt = parse_bound(as_of, "as_of") if as_of is not None else now
    if as_of_dt <= start:
        raise InputError(
            f"as_of == {as_of_dt.isoformat()}, must be after the experiment start == "
            f"{start.isoformat()}."
        )
    return _Window(start, end, as_of_dt, min(end, as_of_dt), variants[0], variants[1])


def interleaving_units(
    experiment: str | ExperimentLike,
    *,
    experiments: Mapping[str, ExperimentLike] | None = None,
    as_of: datetime | date | str | None = None,
    allow_unvalidated: bool = False,
) -> pl.DataFrame:
    """One row per user of an interleaving experiment: what the scorecard's sums are made of.

    Columns ``user_id``, ``n`` (requests), ``<outcome>_a`` and ``<outcome>_b`` per outcome of
    :data:`OUTCOMES` (so d_i = ``<outcome>_b − <outcome>_a``), and the impression and click
    counts; sorted by ``user_id``. For power analysis and subsampling (the sensitivity benchmark
    draws users from it); :func:`analyze_interleaving` reduces the same query in SQL.

    Raises:
        The same errors as :func:`analyze_interleaving`.
    """
    exp = resolve_experiment(experiment, experiments)
    check_event_log(["teams", "clicks", "orders"], allow_unvalidated=allow_unvalidated)
    w = _window(exp, as_of, datetime.now(UTC))
    query = _users_query(str(exp.key), w.ranker_a, w.ranker_b, w.start, w.window_end)
    con = connect(ordered=False)
    try:
        con.execute(f"CREATE TEMP TABLE il_units AS {query} ORDER BY user_id")
        return fetch_polars(con, "il_units")
    finally:
        con.close()


def analyze_interleaving(
    experiment: str | ExperimentLike,
    *,
    experiments: Mapping[str, ExperimentLike] | None = None,
    as_of: datetime | date | str | None = None,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
    allow_unvalidated: bool = False,
) -> InterleavingScorecard:
    """Analyse one ``type: interleaving`` experiment from ``events/teams`` and the clicks/orders.

    The sibling of ``analysis.engine.analyze`` for interleaving experiments (which have no arms,
    so no SRM, CUPED or per-arm rows): the window is [start, min(end, as_of)), the log must be
    the validated one (as for ``analyze``).

    Args:
        experiment: an experiment object (first variant = ranker A, second = ranker B) or a key
            of ``experiments``.
        experiments: the catalog a key is looked up in.
        as_of: analyse data before this instant (a date: the end of that day, UTC).
        alpha: 1 − confidence level.
        tuning_n: N* of the always-valid interval (users).
        allow_unvalidated: analyse an unvalidated log (the scorecard is untrustworthy).

    Raises:
        EventTableMissingError: no teams (or clicks) files, or no teams rows of the experiment in
            its window (the message names the experiment).
        InputError: bad options, or not exactly two variants.
        UnvalidatedLogError: the log was never validated or changed since.
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha == {alpha}, must be in (0, 1).")
    exp = resolve_experiment(experiment, experiments)
    log = check_event_log(["teams", "clicks", "orders"], allow_unvalidated=allow_unvalidated)
    now = datetime.now(UTC)
    start, end, as_of_dt, window_end, a, b = _window(exp, as_of, now)
    tot = _interleaving_sums(str(exp.key), a, b, start, window_end)
    rows = [preference_row(o, tot.stats[o], alpha=alpha, tuning_n=tuning_n) for o in OUTCOMES]
    wins = tot.stats["wins"]
    warnings: list[str] = []
    exp_status = str(getattr(exp, "status", "running"))
    status: InterleavingStatus = (
        "unvalidated_log"
        if log.status != "validated"
        else "draft"
        if exp_status == "draft"
        else "ok"
    )
    if status == "unvalidated_log":
        warnings.append(f"UNTRUSTWORTHY: {log.describe()}.")
    elif status == "draft":
        warnings.append(
            f"UNTRUSTWORTHY: {exp.key} is a draft: it serves nobody, so these teams are not "
            "from this configuration."
        )
    if tot.other_team:
        warnings.append(
            f"{tot.other_team} impressions name a team other than {a!r} or {b!r}; credited to "
            "neither."
        )
    n_req = wins.requests
    ties = n_req - int(wins.credit_a) - int(wins.credit_b)
    trustworthy = status == "ok"
    return InterleavingScorecard(
        experiment=str(exp.key),
        layer=str(exp.layer),
        ranker_a=a,
        ranker_b=b,
        start=start,
        end=end,
        as_of=as_of_dt,
        window_end=window_end,
        generated_at=now,
        alpha=alpha,
        status=status,
        trustworthy=trustworthy,
        warnings=warnings,
        event_log=log,
        users=wins.users,
        requests=n_req,
        impressions=tot.impressions,
        clicks=tot.clicks,
        contested_impressions=tot.contested_impressions,
        contested_clicks=tot.contested_clicks,
        wins_a=int(wins.credit_a),
        wins_b=int(wins.credit_b),
        ties=ties,
        win_rate_a=wins.credit_a / n_req,
        win_rate_b=wins.credit_b / n_req,
        tie_rate=ties / n_req,
        rows=rows,
        decision=interleaving_decision(
            rows[0],
            ranker_b=b,
            trustworthy=trustworthy,
            status=status,
            as_of=as_of_dt,
            end=end,
            alpha=alpha,
        ),
    )


def save_interleaving_scorecard(card: InterleavingScorecard) -> str:
    """Write ``card`` as ``<scorecards_dir>/<experiment>.json`` (atomically); return the path."""
    path = paths.scorecards_dir() / f"{card.experiment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, card.model_dump_json(indent=1))
    return str(path)


def is_interleaving_scorecard(experiment: str) -> bool:
    """Whether the cached scorecard of ``experiment`` is an interleaving one (False: none)."""
    path = paths.scorecards_dir() / f"{experiment}.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("type") == "interleaving")
    except (OSError, ValueError):
        return False


def load_interleaving_scorecard(experiment: str) -> InterleavingScorecard:
    """Load the cached interleaving scorecard of ``experiment``.

    Raises:
        ScorecardNotFoundError: none cached (run ``shoplab analyze EXPERIMENT`` first).
    """
    path = paths.scorecards_dir() / f"{experiment}.json"
    if not path.is_file():
        raise ScorecardNotFoundError(
            f"no scorecard for experiment == {experiment!r} at {path}; "
            f"run `shoplab analyze {experiment}` first."
        )
    return InterleavingScorecard.model_validate_json(path.read_text())
