"""One day of requests: who comes, when, on which surface, searching for what.

Each signed-up user makes Poisson(activity × weekday factor) requests a day, so activity is
heavy-tailed across users and bursty across days. Times follow a diurnal curve peaking in the
evening (UTC+7-ish, where most users are). A search carries a query tied to a category: three
times in four one of the user's preferred categories, otherwise any category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from shoplab.core.contract import CATEGORIES
from shoplab.simulator.world import DAY_US, N_CATEGORIES, N_PREFS, World

__all__ = ["QUERY_TERMS", "Requests", "draw_requests"]

# Monday..Sunday traffic multipliers: weekends +15 %, payday-less Mondays a bit slower.
_WEEKDAY: Final = np.array([0.95, 0.97, 0.98, 1.0, 1.03, 1.15, 1.12])
# Hourly traffic shape (UTC): SEA evening peak at 12-15 UTC, trough at 19-22 UTC.
_HOURLY: Final = np.array(
    [4, 5, 6, 6, 6, 6, 5, 5, 6, 7, 8, 9, 10, 11, 11, 10, 8, 6, 4, 2, 1.5, 1.5, 2, 3], dtype=float
)
_HOURLY_CUM: Final = np.cumsum(_HOURLY / _HOURLY.sum())

# A few query terms per category; the query string of a search is one of them.
_TERMS_PER_CATEGORY: Final = {
    "womens_fashion": ("dress", "blouse", "skirt", "hijab"),
    "mens_fashion": ("t-shirt", "jeans", "polo shirt", "jacket"),
    "shoes": ("sneakers", "sandals", "running shoes", "heels"),
    "bags": ("backpack", "tote bag", "sling bag", "wallet"),
    "watches": ("smartwatch", "analog watch", "watch strap", "casio"),
    "jewelry": ("necklace", "earrings", "ring", "bracelet"),
    "beauty": ("lipstick", "sunscreen", "serum", "cushion"),
    "personal_care": ("shampoo", "toothpaste", "body wash", "deodorant"),
    "health": ("vitamin c", "masks", "collagen", "thermometer"),
    "mobile_phones": ("iphone", "samsung galaxy", "phone case", "charger"),
    "computers": ("laptop", "mechanical keyboard", "monitor", "mouse"),
    "electronics": ("earbuds", "power bank", "speaker", "cctv"),
    "home_appliances": ("air fryer", "rice cooker", "fan", "vacuum"),
    "home_living": ("bedsheet", "storage box", "curtain", "lamp"),
    "kitchen": ("knife set", "frying pan", "tumbler", "lunch box"),
    "furniture": ("office chair", "desk", "shoe rack", "sofa"),
    "baby_kids": ("diapers", "baby wipes", "milk bottle", "stroller"),
    "toys": ("lego", "rc car", "plushie", "puzzle"),
    "sports_outdoor": ("yoga mat", "dumbbell", "jersey", "tent"),
    "automotive": ("car vacuum", "helmet", "motor oil", "dashcam"),
    "groceries": ("instant noodles", "coffee", "snacks", "cooking oil"),
    "pets": ("cat food", "dog leash", "cat litter", "pet bed"),
    "books_stationery": ("notebook", "pen", "novel", "planner"),
    "gaming": ("ps5", "nintendo switch", "gaming chair", "controller"),
}
QUERY_TERMS: Final = tuple(t for c in CATEGORIES for t in _TERMS_PER_CATEGORY[c])
"""Every query string; term ``k`` belongs to category ``k // 4``."""
_TERMS: Final = 4


@dataclass(frozen=True)
class Requests:
    """One day's requests, sorted by time; ``user`` is a user index (id - 1)."""

    user: np.ndarray  # int64
    ts: np.ndarray  # int64 µs
    search: np.ndarray  # bool
    query_cat: np.ndarray  # int8, -1 on the feed
    query_term: np.ndarray  # int16 index into QUERY_TERMS, -1 on the feed

    def __len__(self) -> int:
        """Requests in the batch."""
        return len(self.user)


def draw_requests(
    rng: np.random.Generator, world: World, day: int, day_us: int, weekday: int
) -> Requests:
    """Draw day ``day``'s requests (``day_us``: its 00:00 UTC in µs; ``weekday``: Monday = 0)."""
    lam = world.user_activity * np.float32(_WEEKDAY[weekday])
    # users are sorted by signup: the first n_signed have signed up by the end of the day
    n_signed = int(np.searchsorted(world.user_signup_day, day, side="right"))
    counts = rng.poisson(lam[:n_signed])
    user = np.repeat(np.arange(n_signed, dtype=np.int64), counts)

    hour = np.searchsorted(_HOURLY_CUM, rng.random(len(user)), side="right")
    hour = np.minimum(hour, 23)
    ts = day_us + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, len(user))
    # A user who signs up today can only come after signing up: squeeze into the rest of the day.
    signup = world.user_signup_us[user]
    late = signup > day_us
    if late.any():
        span = day_us + DAY_US - 1 - signup[late]
        ts[late] = signup[late] + ((ts[late] - day_us) / DAY_US * span).astype(np.int64)
    order = np.argsort(ts, kind="stable")
    user, ts = user[order], ts[order]

    n = len(user)
    search = rng.random(n) < world.user_search_p[user]
    from_prefs = rng.random(n) < 0.75
    pref_k = rng.integers(0, N_PREFS, n)
    any_cat = rng.integers(0, N_CATEGORIES, n)
    qcat = np.where(from_prefs, world.user_pref_cat[user, pref_k], any_cat).astype(np.int8)
    qcat = np.where(search, qcat, -1).astype(np.int8)
    term = qcat.astype(np.int16) * _TERMS + rng.integers(0, _TERMS, n).astype(np.int16)
    term = np.where(search, term, -1).astype(np.int16)
    return Requests(user=user, ts=ts, search=search, query_cat=qcat, query_term=term)
