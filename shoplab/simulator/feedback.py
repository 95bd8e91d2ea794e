"""How users respond to what they are shown: clicks with position bias, orders, refunds.

The response depends on the *true* traits (latent affinity, quality, price fit), not on the
ranker's estimates, so a better ranking genuinely earns more clicks. The model is a position-based
click model: P(click) = P(examine position) × P(attractive), with P(examine p) = (1 + p)^-0.6
(position 0: 1.0, position 9: 0.25), capped at 1 after the policy's ``click_mult``. Content types
differ: videos are clicked most and bought least, live streams are clicked less but convert best
and sell bigger baskets; conversion falls with price mismatch, more for price-sensitive users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from shoplab.core.contract import CATEGORIES
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.serving import affinity, price_fit
from shoplab.simulator.world import World

__all__ = ["Clicks", "Orders", "click_probability", "draw_clicks", "draw_orders"]

# Logit intercepts per content type (product, video, live): overall CTR ≈ 4.4 %, orders/click ≈ 5 %
# on the reference world (the click intercepts sit 0.6 lower since the relevance weights grew).
_CLICK_BASE: Final = np.array([-4.95, -4.6, -5.3], dtype=np.float32)
_ORDER_BASE: Final = np.array([-4.45, -5.15, -3.95], dtype=np.float32)
# Click logit weights of the true relevance terms (see ``click_probability``). Quality sd ≈ 0.85,
# so 1.0 spreads it over ≈ ±1.7 logits (2 sd), price fit over ≈ 0.5: with the ranker's noise
# (WorldConfig.rank_noise) the oracle P(click) beats position alone by ≈ +0.07 AUC, +0.04 GAUC
# (100k users, 5k items, day 8; tests/simulator/test_relevance.py). At 0.5/0.15 the shown list
# was so close to the true relevance order that position explained nearly all of it (+0.02 GAUC).
_CLICK_W_AFFINITY: Final = np.float32(2.0)
_CLICK_W_QUALITY: Final = np.float32(1.0)
_CLICK_W_PRICE: Final = np.float32(0.5)
_REFUND_FACTOR: Final = np.array([1.0, 1.2, 1.6])  # impulse buys from live streams come back more
_BASKET_FACTOR: Final = np.array([1.0, 0.8, 1.8])
_BULK_CATEGORIES: Final = np.isin(np.array(CATEGORIES), ["groceries", "personal_care", "pets"])


@dataclass(frozen=True)
class Clicks:
    """Clicked impressions: index into the day's impressions, and the click time in µs."""

    impression: np.ndarray  # int64
    ts: np.ndarray  # int64


@dataclass(frozen=True)
class Orders:
    """Orders placed after clicks: index into the day's clicks, time, quantity, GMV, refunded."""

    click: np.ndarray  # int64
    ts: np.ndarray  # int64
    quantity: np.ndarray  # int32
    gmv: np.ndarray  # float64
    refunded: np.ndarray  # bool


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.float32(1.0) / (np.float32(1.0) + np.exp(-x))
    return out


def click_probability(
    world: World,
    cfg: WorldConfig,
    *,
    user: np.ndarray,
    item: np.ndarray,
    position: np.ndarray,
    query_match: np.ndarray,
    click_mult: np.ndarray,
) -> np.ndarray:
    """The true P(click) of each impression: examination at its position × attractiveness.

    The one place the click model lives: ``draw_clicks`` draws from it, and calibration tests and
    the oracle (``shoplab.simulator.oracle``) read it to know the best any CTR model could do.
    """
    cat = world.item_cat[item]
    logit = (
        _CLICK_BASE[world.item_type[item]]
        + _CLICK_W_AFFINITY * affinity(world, user, cat)
        + _CLICK_W_QUALITY * world.item_quality[item]
        + _CLICK_W_PRICE * price_fit(world, user, item)
        + world.user_click[user]
        + np.where(query_match, np.float32(0.8), np.float32(0.0))
    )
    examine = (np.float32(1.0) + position.astype(np.float32)) ** np.float32(-cfg.position_decay)
    p: np.ndarray = np.minimum(_sigmoid(logit) * examine * click_mult * cfg.click_scale, 1.0)
    return p


def draw_clicks(
    rng: np.random.Generator,
    world: World,
    cfg: WorldConfig,
    *,
    user: np.ndarray,
    item: np.ndarray,
    position: np.ndarray,
    query_match: np.ndarray,
    ts: np.ndarray,
    click_mult: np.ndarray,
    day_end_us: int,
) -> Clicks:
    """Draw a click per impression (arrays are per impression)."""
    p = click_probability(
        world, cfg, user=user, item=item, position=position, query_match=query_match,
        click_mult=click_mult,
    )
    hit = np.flatnonzero(rng.random(len(p), dtype=np.float32) < p)
    # Scrolling to position p takes ≈ 1.5 s per slot, then a few seconds to decide.
    delay = 2_000_000 + position[hit].astype(np.int64) * 1_500_000
    delay += rng.exponential(15e6, len(hit)).astype(np.int64)
    return Clicks(impression=hit, ts=np.minimum(ts[hit] + delay, day_end_us - 1))


def draw_orders(
    rng: np.random.Generator,
    world: World,
    cfg: WorldConfig,
    *,
    user: np.ndarray,
    item: np.ndarray,
    ts: np.ndarray,
    order_mult: np.ndarray,
    day_end_us: int,
) -> Orders:
    """Draw an order per click (arrays are per click)."""
    ctype = world.item_type[item]
    cat = world.item_cat[item]
    logit = (
        _ORDER_BASE[ctype]
        + np.float32(0.4) * world.item_quality[item]
        + np.float32(0.5) * world.user_price_sens[user] * price_fit(world, user, item)
        + np.float32(0.7) * affinity(world, user, cat)
        + world.user_buy[user]
    )
    p = np.minimum(_sigmoid(logit) * order_mult * cfg.order_scale, 1.0)
    hit = np.flatnonzero(rng.random(len(p), dtype=np.float32) < p)
    u, it = user[hit], item[hit]
    basket = world.user_basket[u] * _BASKET_FACTOR[ctype[hit]] * np.where(
        _BULK_CATEGORIES[cat[hit]], 2.0, 1.0
    )
    quantity = np.minimum(1 + rng.poisson(basket), 99).astype(np.int32)
    gmv = np.round(world.item_price[it] * quantity, 2)
    p_refund = world.shop_return_rate[world.item_shop[it]] * _REFUND_FACTOR[ctype[hit]]
    refunded = rng.random(len(hit)) < p_refund
    # Checkout a few minutes after the click; an order never spills into the next day's file.
    delay = 30_000_000 + rng.exponential(300e6, len(hit)).astype(np.int64)
    return Orders(
        click=hit,
        ts=np.minimum(ts[hit] + delay, day_end_us - 1),
        quantity=quantity,
        gmv=gmv,
        refunded=refunded,
    )
