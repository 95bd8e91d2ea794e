"""What the calibration audit simulates and how hard it checks: one pydantic model of defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditSettings"]


class AuditSettings(BaseModel):
    """Sizes, seeds and bands of the calibration audit.

    The defaults give ≈ 75k exposed units from 200k simulated users over 7 pre-period days and
    14 experiment days (≈ 25 s of simulation on 2 cores), and 1,000 replications.

    A check passes unless an exact binomial test of its nominal rate (alpha for a false-positive
    rate, 1 − alpha for coverage) rejects at ``band_alpha`` over its replications: the pass band
    follows from the number of replications, so 300 replications get a wider band than 1,000
    and a FAIL always means the nominal rate is implausible. At 1,000 replications and
    ``band_alpha`` 0.01 the band of a 5 % rate is [3.3 %, 6.9 %]; at 300, [2.0 %, 8.3 %].

    Attributes:
        users: simulated users (≈ 37 % are active, hence exposed, in a 14-day window).
        items: catalog size at the start.
        pre_days: days before the experiment starts (CUPED covariates, winsorization caps).
        experiment_days: experiment window; the sequential check looks once per day.
        seed: simulation and re-hash seed: the same settings give the same report.
        replications: A/A re-hashes (fresh salts) for false-positive rates, coverage, peeking.
        alpha: test level.
        lift: known relative effect injected on re-hashed treatment units (numerator × (1 + lift)).
        click_mult: known click-probability multiplier of the simulated treatment arm (the
            simulator-based effect check: the whole chain simulator → exposures → analysis).
        srm_units: active units in the SRM check's exposure log (χ² of a 2 % drop grows as
            ≈ 1e-4 · N: 500k units give an expected χ² ≈ 51, p ≈ 1e-12).
        srm_drop: share of treatment exposures the broken logger drops.
        unbalanced_share: treatment share of a second, unbalanced A/A (CUPED on; None: skip).
            Balanced arms cancel the skewness of a difference in means, so only an unbalanced
            split shows whether a heavy-tailed metric's p-values hold (gmv_per_user at a 5 %
            share read 7.6–11 % before the scorecard withheld too-skewed p-values).
        band_alpha: level of the two-sided exact binomial test that fails a check.
        fpr_band, coverage_band: fixed pass bands overriding the binomial rule (None: derived).
        interleaving_requests: logged requests (of whole users) of the interleaving A/A, whose
            ``replications`` re-draw the team-draft coin flips on the same lists
            (``audit.interleaving``; ≈ 14 ms per replication at 5,000 requests × 10 slots,
            ≈ 15 s for 1,000 on 2 cores); 0 skips it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: int = Field(default=200_000, ge=1_000)
    items: int = Field(default=20_000, ge=100)
    pre_days: int = Field(default=7, ge=1, le=30)
    experiment_days: int = Field(default=14, ge=2, le=60)
    seed: int = Field(default=2026, ge=0)
    replications: int = Field(default=1_000, ge=10)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    lift: float = Field(default=0.05, gt=-0.5, lt=1.0)
    click_mult: float = Field(default=1.10, gt=0.0, le=3.0)
    srm_units: int = Field(default=500_000, ge=1_000)
    srm_drop: float = Field(default=0.02, gt=0.0, lt=1.0)
    unbalanced_share: float | None = Field(default=0.1, gt=0.0, lt=0.5)
    band_alpha: float = Field(default=0.01, gt=0.0, lt=0.5)
    fpr_band: tuple[float, float] | None = None
    coverage_band: tuple[float, float] | None = None
    interleaving_requests: int = Field(default=5_000, ge=0)
