"""The knobs of the simulated marketplace, with defaults chosen to look like a real one.

One pydantic model holds every default so that a test or a benchmark can change one knob
(``WorldConfig(requests_per_user_day=0.2)``) and the rest stays the reference world. Measured on
the reference world (tests/simulator, benchmarks/simulator.py): overall CTR ≈ 4-5 %, orders per
click ≈ 4-5 %, the top 1 % of buyers hold ≈ 30-35 % of GMV, ≈ 5 % of orders are refunded, and
10M users over 14 days give ≈ 100M impressions (≈ 0.07 requests per user-day × ≈ 11.3 slots).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WorldConfig"]


class WorldConfig(BaseModel):
    """Rates and shapes of the simulated world (everything except its size and seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # users
    returning_user_share: float = Field(default=0.75, ge=0.0, le=1.0)
    """Share of users who signed up before the window; the rest sign up during it."""
    requests_per_user_day: float = Field(default=0.07, gt=0.0)
    """Mean requests per signed-up user and day. Most registered users are idle on a given day:
    0.07 × 10M users × 14 days × ≈ 0.88 signed up ≈ 8.7M requests ≈ 100M impressions."""
    activity_sigma: float = Field(default=1.4, gt=0.0)
    """Lognormal sigma of per-user activity; 1.4 puts ≈ 30 % of requests on the top 5 % of users."""
    search_share: float = Field(default=0.35, ge=0.0, le=1.0)
    """Mean share of requests on the search surface (per-user propensities ~ Beta around it)."""

    # catalog
    new_items_per_day: float = Field(default=0.015, ge=0.0)
    """New items per day as a share of the starting catalog (cold-start supply)."""
    new_shops_per_day: float = Field(default=0.005, ge=0.0)
    """New shops per day as a share of the starting shops."""
    items_per_shop: float = Field(default=40.0, gt=0.0)
    """Default shop count is ``items / items_per_shop`` when ``shops`` is not given."""
    video_share: float = Field(default=0.20, ge=0.0, le=1.0)
    live_share: float = Field(default=0.06, ge=0.0, le=1.0)
    cold_start_days: float = Field(default=4.0, gt=0.0)
    """Popularity of a new item ramps up as 1 - 0.9·exp(-age/cold_start_days)."""

    # serving
    slots_search: int = Field(default=10, ge=1, le=50)
    slots_feed: int = Field(default=12, ge=1, le=50)
    rank_noise: float = Field(default=2.0, ge=0.0)
    """Ranker's estimation error (uniform noise width, on a score whose quality part has sd ≈ 0.85
    and affinity part spans 0-3): the production ranker is decent, not an oracle, so a CTR model
    with better features can still beat the logged order (at 0.6 position held ≈ all relevance)."""

    # feedback
    position_decay: float = Field(default=0.6, ge=0.0)
    """Examination probability at 0-based position p is (1 + p) ** -position_decay."""
    click_scale: float = Field(default=1.0, gt=0.0)
    order_scale: float = Field(default=1.0, gt=0.0)
