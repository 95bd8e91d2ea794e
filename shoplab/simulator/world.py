"""The population of the simulated marketplace: users, shops and items as NumPy columns.

Everything is drawn once, up front, with one generator: users (including those who sign up during
the window), shops and items (including those created during the window). Daily generation then
only reads these columns, which is what keeps a day vectorized: a request is an index into
``users``, a candidate an index into ``items``. Latent traits (a user's category preferences,
price level, click and buy propensities; an item's quality and popularity) never leave the
simulator: the event log carries only what a real marketplace would log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

import numpy as np

from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES
from shoplab.simulator.config import WorldConfig

__all__ = ["DAY_US", "World", "build_world", "day_start_us"]

DAY_US: Final = 86_400_000_000
"""Microseconds per day: every timestamp is int64 µs since the epoch, UTC."""

N_CATEGORIES: Final = len(CATEGORIES)
N_PREFS: Final = 3  # preferred categories per user; with history that is 4 personal channels

# Share of users per country: SEA-heavy marketplace with a small Western footprint.
COUNTRY_WEIGHTS: Final = np.array([0.30, 0.15, 0.14, 0.10, 0.15, 0.05, 0.06, 0.05])
# Platform mix per country (android, ios, web): iOS is a minority in SEA, larger in SG/US/GB.
PLATFORM_WEIGHTS: Final = np.array(
    [
        [0.78, 0.12, 0.10],  # ID
        [0.60, 0.30, 0.10],  # TH
        [0.70, 0.20, 0.10],  # VN
        [0.62, 0.28, 0.10],  # MY
        [0.75, 0.15, 0.10],  # PH
        [0.35, 0.55, 0.10],  # SG
        [0.40, 0.45, 0.15],  # US
        [0.42, 0.43, 0.15],  # GB
    ]
)
# (catalog weight, median price in USD, lognormal sigma) per category, in CATEGORIES order.
CATEGORY_PROFILE: Final = np.array(
    [
        [0.12, 14.0, 0.6],  # womens_fashion
        [0.07, 16.0, 0.6],  # mens_fashion
        [0.05, 28.0, 0.6],  # shoes
        [0.04, 22.0, 0.7],  # bags
        [0.02, 35.0, 0.9],  # watches
        [0.02, 18.0, 1.0],  # jewelry
        [0.09, 11.0, 0.6],  # beauty
        [0.05, 7.0, 0.5],  # personal_care
        [0.03, 12.0, 0.6],  # health
        [0.04, 220.0, 0.7],  # mobile_phones
        [0.02, 450.0, 0.6],  # computers
        [0.05, 30.0, 1.0],  # electronics
        [0.03, 90.0, 0.8],  # home_appliances
        [0.06, 12.0, 0.7],  # home_living
        [0.04, 10.0, 0.6],  # kitchen
        [0.02, 120.0, 0.7],  # furniture
        [0.04, 13.0, 0.6],  # baby_kids
        [0.03, 12.0, 0.7],  # toys
        [0.03, 25.0, 0.8],  # sports_outdoor
        [0.02, 20.0, 0.9],  # automotive
        [0.05, 4.0, 0.5],  # groceries
        [0.02, 9.0, 0.6],  # pets
        [0.02, 6.0, 0.6],  # books_stationery
        [0.04, 35.0, 0.9],  # gaming
    ]
)
CATEGORY_WEIGHTS: Final = CATEGORY_PROFILE[:, 0] / CATEGORY_PROFILE[:, 0].sum()


def day_start_us(day: date) -> int:
    """Microseconds since the epoch of ``day`` 00:00 UTC."""
    dt = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000


@dataclass
class World:
    """Users, shops and items of one simulation, as columns indexed by ``id - 1``.

    ``last_click_cat`` is the only state that changes during a run: the category of each user's
    most recent click, which feeds the recall's personal-history channel on the following days.
    """

    # users
    user_signup_us: np.ndarray  # int64
    user_signup_day: np.ndarray  # int32, day index relative to start (negative = returning)
    user_country: np.ndarray  # int8 index into COUNTRIES
    user_platform: np.ndarray  # int8 index into PLATFORMS
    user_activity: np.ndarray  # float32, expected requests per day
    user_search_p: np.ndarray  # float32, probability that a request is a search
    user_pref_cat: np.ndarray  # int8 (n, 3) preferred categories
    user_pref_w: np.ndarray  # float32 (n, 3) their weights (sum to 1)
    user_price_z: np.ndarray  # float32, preferred price level in category standard units
    user_price_sens: np.ndarray  # float32, how much a price mismatch hurts conversion
    user_click: np.ndarray  # float32, click propensity (logit offset)
    user_buy: np.ndarray  # float32, buy propensity (logit offset)
    user_basket: np.ndarray  # float32, mean extra units per order (heavy buyers, resellers)
    last_click_cat: np.ndarray  # int8, -1 = no click yet
    # shops
    shop_created_us: np.ndarray  # int64
    shop_rating: np.ndarray  # float64, 1..5
    shop_return_rate: np.ndarray  # float64
    # items
    item_shop: np.ndarray  # int32 shop index
    item_cat: np.ndarray  # int8
    item_type: np.ndarray  # int8 index into CONTENT_TYPES
    item_price: np.ndarray  # float64
    item_price_z: np.ndarray  # float32, standardized log price within category
    item_quality: np.ndarray  # float32, true quality (what users respond to)
    item_quality_est: np.ndarray  # float32, the ranker's estimate of it
    item_pop: np.ndarray  # float32, steady-state popularity
    item_created_us: np.ndarray  # int64
    item_created_day: np.ndarray  # int32, day index relative to start (negative = catalog)

    @property
    def n_users(self) -> int:
        """Number of users (including those who sign up during the window)."""
        return len(self.user_signup_us)

    @property
    def n_items(self) -> int:
        """Number of items (including those created during the window)."""
        return len(self.item_cat)

    @property
    def n_shops(self) -> int:
        """Number of shops (including those created during the window)."""
        return len(self.shop_rating)


def _timestamps(rng: np.random.Generator, start_us: int, day_index: np.ndarray) -> np.ndarray:
    """A uniform time of day within each ``day_index`` (relative to ``start_us``), in µs."""
    offset = rng.integers(0, DAY_US, size=len(day_index), dtype=np.int64)
    return start_us + day_index.astype(np.int64) * DAY_US + offset


def _users(
    rng: np.random.Generator, n: int, days: int, start_us: int, cfg: WorldConfig
) -> dict[str, np.ndarray]:
    returning = rng.random(n) < cfg.returning_user_share
    # Returning users: account ages roughly exponential (median ≈ 200 days), capped at 6 years.
    age = np.minimum(rng.exponential(300.0, n), 2190).astype(np.int32) + 1
    new_day = rng.integers(0, days, size=n, dtype=np.int32)
    signup_day = np.where(returning, -age, new_day).astype(np.int32)
    signup_us = _timestamps(rng, start_us, signup_day)
    order = np.argsort(signup_us, kind="stable")  # user ids in signup order, like a real DB
    signup_day, signup_us = signup_day[order], signup_us[order]

    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS).astype(np.int8)
    cum = PLATFORM_WEIGHTS.cumsum(axis=1)[country]
    platform = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1).astype(np.int8)

    # Heavy-tailed activity, mean 1 before scaling: exp(N(-s²/2, s)).
    s = cfg.activity_sigma
    activity = np.exp(rng.normal(-s * s / 2, s, n)) * cfg.requests_per_user_day
    m = cfg.search_share
    search_p = rng.beta(4 * m / (1 - m + 1e-9) + 1e-3, 4.0, n) if 0 < m < 1 else np.full(n, m)

    pref_cat = rng.choice(N_CATEGORIES, size=(n, N_PREFS), p=CATEGORY_WEIGHTS).astype(np.int8)
    pref_w = np.sort(rng.dirichlet([1.0, 1.5, 3.0], n), axis=1)[:, ::-1]
    price_z = rng.normal(0.0, 0.7, n)
    price_sens = np.exp(rng.normal(0.0, 0.5, n))
    click = rng.normal(0.0, 0.5, n)
    # Buy propensity is the fat tail of GMV: a few users (families, resellers) buy most.
    buy = rng.normal(0.0, 1.35, n)
    basket = np.exp(rng.normal(-1.6, 1.4, n)) * np.exp(0.6 * buy)
    f32 = np.float32
    return {
        "user_signup_us": signup_us,
        "user_signup_day": signup_day,
        "user_country": country,
        "user_platform": platform,
        "user_activity": activity.astype(f32),
        "user_search_p": search_p.astype(f32),
        "user_pref_cat": np.ascontiguousarray(pref_cat),
        "user_pref_w": np.ascontiguousarray(pref_w.astype(f32)),
        "user_price_z": price_z.astype(f32),
        "user_price_sens": price_sens.astype(f32),
        "user_click": click.astype(f32),
        "user_buy": buy.astype(f32),
        "user_basket": basket.astype(f32),
        "last_click_cat": np.full(n, -1, dtype=np.int8),
    }


def _creation_days(
    rng: np.random.Generator, n_start: int, per_day: float, days: int, age_scale: float
) -> np.ndarray:
    """Creation day of each entity: ``n_start`` before the window, Poisson(per_day) each day."""
    before = -(np.minimum(rng.exponential(age_scale, n_start), 1500).astype(np.int32) + 1)
    during = np.repeat(np.arange(days, dtype=np.int32), rng.poisson(per_day, days))
    return np.sort(np.concatenate([before, during]), kind="stable")


def build_world(
    rng: np.random.Generator,
    *,
    users: int,
    items: int,
    shops: int,
    days: int,
    start: date,
    cfg: WorldConfig,
) -> World:
    """Draw every user, shop and item of the simulation (ids are ``index + 1``)."""
    start_us = day_start_us(start)
    cols = _users(rng, users, days, start_us, cfg)

    shop_day = _creation_days(rng, shops, shops * cfg.new_shops_per_day, days, 400.0)
    n_shops = len(shop_day)
    shop_created_us = np.sort(_timestamps(rng, start_us, shop_day))
    shop_q = rng.normal(0.0, 1.0, n_shops)
    rating = np.round(np.clip(4.45 + 0.25 * shop_q + rng.normal(0, 0.15, n_shops), 1.0, 5.0), 1)
    return_rate = np.clip(rng.beta(2.0, 35.0, n_shops) * np.exp(-0.3 * shop_q), 0.0, 0.6)
    shop_size = np.exp(rng.normal(0.0, 1.2, n_shops))  # a few big shops hold most items

    item_day = _creation_days(rng, items, items * cfg.new_items_per_day, days, 120.0)
    n_items = len(item_day)
    item_created_us = np.sort(_timestamps(rng, start_us, item_day))
    # An item belongs to a shop that already exists: pick among shops created before it, by size.
    n_open = np.searchsorted(shop_created_us, item_created_us, side="left")
    n_open = np.maximum(n_open, 1)  # the very first items go to the oldest shop
    size_cum = np.cumsum(shop_size)
    item_shop = np.searchsorted(size_cum, rng.random(n_items) * size_cum[n_open - 1], side="right")
    item_shop = np.minimum(item_shop, n_open - 1).astype(np.int32)
    # Shop creation timestamps are sorted per index, but ties with items at the same µs are
    # impossible in practice (int64 µs); an item never predates its shop by construction.

    cat = rng.choice(N_CATEGORIES, size=n_items, p=CATEGORY_WEIGHTS).astype(np.int8)
    p_type = np.array([1.0 - cfg.video_share - cfg.live_share, cfg.video_share, cfg.live_share])
    ctype = rng.choice(len(CONTENT_TYPES), size=n_items, p=p_type).astype(np.int8)
    mu = np.log(CATEGORY_PROFILE[cat, 1])
    sigma = CATEGORY_PROFILE[cat, 2]
    price_z = rng.normal(0.0, 1.0, n_items)
    price = np.round(np.exp(mu + sigma * price_z), 2)
    price = np.maximum(price, 0.5)
    quality = 0.8 * rng.normal(0.0, 1.0, n_items) + 0.3 * shop_q[item_shop]
    quality_est = quality + rng.normal(0.0, 0.5, n_items)  # the ranker's noisy estimate
    # Popularity: heavy-tailed, higher for good items (a few bestsellers get most traffic).
    pop = np.exp(rng.normal(0.0, 1.3, n_items) + 0.5 * quality)
    f32 = np.float32
    return World(
        **cols,
        shop_created_us=shop_created_us,
        shop_rating=rating,
        shop_return_rate=return_rate,
        item_shop=item_shop,
        item_cat=cat,
        item_type=ctype,
        item_price=price,
        item_price_z=price_z.astype(f32),
        item_quality=quality.astype(f32),
        item_quality_est=quality_est.astype(f32),
        item_pop=pop.astype(f32),
        item_created_us=item_created_us,
        item_created_day=item_day,
    )
