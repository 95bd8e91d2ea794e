"""The audit's results: frozen records, one per check, and the report that holds them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from shoplab.audit.settings import AuditSettings

__all__ = [
    "AaCheck",
    "AuditReport",
    "CoverageCheck",
    "CupedCheck",
    "DatasetInfo",
    "SequentialCheck",
    "SimulatedEffectCheck",
    "SrmCheck",
]


@dataclass(frozen=True)
class DatasetInfo:
    """The simulated log the audit ran on."""

    users: int
    exposed_units: int
    impressions: int
    clicks: int
    orders: int
    simulate_seconds: float


@dataclass(frozen=True)
class AaCheck:
    """False-positive rate of one metric over the A/A replications.

    Attributes:
        rate: share of replications with pvalue < alpha.
        ci_lower, ci_upper: 95 % Clopper–Pearson interval of that rate.
        passed: ``rate`` inside ``[band_lower, band_upper]``; at an unbalanced
            ``treatment_share``, ``rate <= band_upper`` (withholding is allowed, rejecting
            too often is not).
        band_lower, band_upper: rates an exact binomial test of alpha over ``replications``
            does not reject (``checks.acceptance_band``), or the settings' fixed band.
        treatment_share: the re-hash's treatment share (0.5: the balanced A/A).
        withheld: share of replications without a p-value (``analysis.rows``: the difference
            is too skewed for its reference); they count as no rejection in ``rate``.
    """

    metric: str
    cuped: bool
    replications: int
    rate: float
    ci_lower: float
    ci_upper: float
    passed: bool
    band_lower: float
    band_upper: float
    treatment_share: float = 0.5
    withheld: float = 0.0


@dataclass(frozen=True)
class CoverageCheck:
    """Coverage of a known injected relative effect by the 95 % interval, and power.

    Attributes:
        true_rel_effect: the injected lift (numerator × (1 + lift) on treatment units).
        coverage: share of replications whose relative CI holds the true effect.
        mean_rel_effect: mean estimate over replications (≈ the true effect: no bias).
        power: share of replications with pvalue < alpha.
        passed: ``coverage`` inside ``[band_lower, band_upper]`` (see :class:`AaCheck`).
    """

    metric: str
    replications: int
    true_rel_effect: float
    coverage: float
    ci_lower: float
    ci_upper: float
    mean_rel_effect: float
    power: float
    passed: bool
    band_lower: float
    band_upper: float


@dataclass(frozen=True)
class SimulatedEffectCheck:
    """One metric of the simulator-injected experiment, analysed by ``analysis.analyze``.

    The simulator multiplies click probabilities by ``click_mult`` for the treatment arm, so the
    true relative effect on CTR is ≈ ``click_mult − 1`` (≈: a click can change tomorrow's
    recall) and on CVR (orders per click) it is 0.
    """

    metric: str
    true_rel_effect: float
    rel_effect: float | None
    rel_ci_lower: float | None
    rel_ci_upper: float | None
    pvalue: float | None
    status: str
    covered: bool


@dataclass(frozen=True)
class SequentialCheck:
    """Peeking every day: always-valid confidence sequence vs fixed-horizon test at each look.

    Attributes:
        looks: daily looks over the experiment window.
        always_valid_rate: share of A/A replications whose confidence sequence excluded 0 at
            any look (must be <= alpha).
        naive_rate: share whose fixed-horizon pvalue was < alpha at any look (inflated).
        final_look_rate: share significant at the last look only (≈ alpha).
    """

    metric: str
    replications: int
    looks: int
    always_valid_rate: float
    naive_rate: float
    final_look_rate: float
    passed: bool


@dataclass(frozen=True)
class CupedCheck:
    """Variance reduction from CUPED with pre-period covariates.

    Attributes:
        model_variance_reduction: mean over replications of the estimate's
            1 − Var(adjusted) / Var(unadjusted) (what a scorecard row reports).
        empirical_variance_reduction: 1 − Var(adjusted effects) / Var(unadjusted effects)
            across the A/A replications: the reduction actually achieved.
    """

    metric: str
    model_variance_reduction: float
    empirical_variance_reduction: float


@dataclass(frozen=True)
class SrmCheck:
    """The sample-ratio-mismatch test on an intact or deliberately broken exposure log."""

    source: Literal["simulated_log", "policy_log"]
    broken: bool
    dropped_share: float
    units: int
    observed: dict[str, int]
    chi2: float
    pvalue: float
    mismatch: bool
    passed: bool
    """Broken logs must be flagged, intact ones not. Only the policy log (``srm_units``) is
    large enough for a 2 % drop to be detectable; the simulated log's row is informational."""


@dataclass(frozen=True)
class AuditReport:
    """Everything the calibration audit measured."""

    settings: AuditSettings
    dataset: DatasetInfo
    aa: tuple[AaCheck, ...]
    coverage: tuple[CoverageCheck, ...]
    simulated_effect: tuple[SimulatedEffectCheck, ...]
    sequential: tuple[SequentialCheck, ...]
    cuped: tuple[CupedCheck, ...]
    srm: tuple[SrmCheck, ...]
    seconds: float
    generated_at: str

    @property
    def passed(self) -> bool:
        """Every gated check passed (CUPED is reported, not gated)."""
        gated_srm = [s for s in self.srm if s.source == "policy_log"]
        sim = [s for s in self.simulated_effect if s.status == "ok"]
        return (
            all(c.passed for c in self.aa)
            and all(c.passed for c in self.coverage)
            and all(q.passed for q in self.sequential)
            and all(s.passed for s in gated_srm)
            and all(s.covered for s in sim)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (snake_case keys)."""
        out = asdict(self)
        out["settings"] = self.settings.model_dump()
        out["passed"] = self.passed
        return out
