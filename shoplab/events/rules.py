"""The row-level contract of the event log, as DuckDB SQL.

Each table has an ordered list of rules ``(reason, condition)``; a row is quarantined with the
reason of the first rule it breaks, so every rejected row carries exactly one reason. Rules that
look at another table (a click needs its impression) read that table's *current* files, which is
why ``load_events`` validates tables in dependency order: users, shops, items, requests,
impressions, clicks, orders. An impression whose request was quarantined is then itself an orphan.

Duplicates are decided last, among the rows that pass every other rule, so a broken copy never
pushes out a valid one: of several valid rows with the same key the first (by file name, then row
number) is kept and the others are quarantined as ``duplicate <key>``.

Reasons (in rule order; a rule is skipped when the table it refers to has no files):

The ``unknown <column>`` rules check the active vocabularies (``shoplab.events.vocabularies``:
``SHOPLAB_VOCABULARIES``, the import mapping's block, else the contract's lists); with
configured ones the reason names the value and the vocabulary's source.

- every table: ``null <column>`` for each non-nullable column
- users: ``unknown country``, ``unknown platform``, ``signup_ts after log end``
- shops: ``rating outside [0, 5]``, ``return_rate outside [0, 1]``, ``created_ts after log end``
- items: ``unknown category``, ``unknown content_type``, ``negative or NaN price``,
  ``unknown shop_id``, ``created_ts after log end``
- requests: ``unknown surface``, ``search without query``, ``unknown country``,
  ``unknown platform``, ``unknown user_id``, ``request before user signup``
- impressions: ``negative position``, ``impression without request``,
  ``user_id differs from request``, ``impression before request``, ``unknown item_id``,
  ``item created after impression``
- clicks: ``click without impression``, ``user_id differs from impression``,
  ``click before impression``
- orders: ``quantity < 1``, ``negative or NaN gmv``, ``null request_id (the log has
  requests: ...)``, ``null item_id (the log has clicks: ...)`` (both ids may be null in a log
  without requests / clicks: an orders-only purchase log), ``order without request``,
  ``user_id differs from request``, ``order without click``, ``order before click``
- teams: ``negative position``, ``team without impression`` (no impression with its
  request_id, item_id), ``position differs from impression``, ``user_id differs from
  impression``, ``ts differs from impression``
- triggers: ``k < 1``, ``trigger without request``, ``user_id differs from request``,
  ``ts differs from request``
- daily tables: ``ts outside its file's day`` (file ``YYYY-MM-DD.parquet`` covers that UTC day),
  ``ts after log end`` (files without a date; the log ends at 00:00 after its newest daily file)
- before each ``unknown user_id``, ``unknown shop_id``, ``unknown item_id`` rule:
  ``<key> quarantined (<table>: <reason>)`` when the key is not among the referenced table's
  accepted rows but was quarantined there, so the first cause is named: an impression of an item
  with a negative price says ``item_id quarantined (items: negative or NaN price)``, not
  ``unknown item_id``
- last: ``duplicate <key columns>`` (``duplicate order_id``, ``duplicate request_id, item_id``, …)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES, PLATFORMS, SURFACES, TABLES
from shoplab.core.duck import sql_str
from shoplab.events.vocabularies import VOCABULARY_COLUMNS, Vocabularies

__all__ = ["QUARANTINED", "REFERENCES", "Rule", "duplicate_reason", "rules_for"]


@dataclass(frozen=True)
class Rule:
    """A row breaks the rule when ``condition`` (SQL over the row and its references) is true."""

    reason: str
    condition: str
    needs: str | None = None  # the reference table this rule reads; skipped when it has no files
    reason_sql: str | None = None  # SQL giving the reason per row, when it is not ``reason`` as is


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


# Reference relations: alias -> (table, SQL selecting one row per key from {ref} and {src}).
# Aggregated per key so that a join never multiplies rows (even if the reference table itself
# still has duplicates), and semi-joined to the keys in use so a 100M-row table is probed, not
# hashed whole.
REFERENCES: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "usr": (
        "users",
        "SELECT user_id, min(epoch_us(signup_ts)) AS signup_us FROM {ref} GROUP BY user_id",
        ("user_id",),
    ),
    "shp": ("shops", "SELECT DISTINCT shop_id FROM {ref}", ("shop_id",)),
    "itm": (
        "items",
        "SELECT item_id, min(epoch_us(created_ts)) AS created_us FROM {ref} GROUP BY item_id",
        ("item_id",),
    ),
    "req": (
        "requests",
        "SELECT request_id, min(user_id) AS ref_user, min(epoch_us(ts)) AS ref_ts FROM {ref} "
        "SEMI JOIN (SELECT DISTINCT request_id FROM {src}) k USING (request_id) "
        "GROUP BY request_id",
        ("request_id",),
    ),
    "imp": (
        "impressions",
        "SELECT request_id, item_id, min(user_id) AS ref_user, min(epoch_us(ts)) AS ref_ts, "
        "min(position) AS ref_pos "
        "FROM {ref} SEMI JOIN (SELECT DISTINCT request_id, item_id FROM {src}) k "
        "USING (request_id, item_id) GROUP BY request_id, item_id",
        ("request_id", "item_id"),
    ),
    "clk": (
        "clicks",
        "SELECT request_id, item_id, min(epoch_us(ts)) AS ref_ts "
        "FROM {ref} SEMI JOIN (SELECT DISTINCT request_id, item_id FROM {src}) k "
        "USING (request_id, item_id) GROUP BY request_id, item_id",
        ("request_id", "item_id"),
    ),
}

QUARANTINED: Final[dict[str, str]] = {
    "qusr": "usr",
    "qshp": "shp",
    "qitm": "itm",
    "qreq": "req",
    "qimp": "imp",
    "qclk": "clk",
}
"""Quarantine relations: alias -> the reference alias whose table's quarantined rows it reads.

Before each missing-reference rule (``unknown item_id``, ``impression without request``, ``click
without impression``, ``order without click``): a row whose parent was quarantined is not an
orphan, and its reason carries the parent's, so a chain names its first cause (an order of a
click of an impression of a request with an unknown surface says ``unknown surface`` at the end).

``q<alias>`` holds one row per key of ``quarantine/<table>/`` with the reason that key's row was
quarantined for, so a row whose reference was quarantined says why (the first cause) instead of
``unknown <key>``. Available only when that table has quarantine batches.
"""


def _quarantined(alias: str) -> Rule:
    """A row whose reference key is not accepted but was quarantined: name the upstream reason.

    Checked right before the rule for a missing reference (``unknown item_id``), and only when
    the key is absent from the accepted rows, so a quarantined duplicate of an accepted key
    changes nothing.
    """
    table, _, keys = REFERENCES[alias]
    q = f"q{alias}"
    label = f"{', '.join(keys)} quarantined ({table}: "
    return Rule(
        f"{label}<reason>)",
        f"{alias}.{keys[0]} IS NULL AND {q}.reason IS NOT NULL",
        needs=q,
        reason_sql=f"'{label}' || {q}.reason || ')'",
    )


NULL_REQUEST_WITH_REQUESTS: Final = (
    "null request_id (the log has requests: an order must name the request it came from)")
NULL_ITEM_WITH_CLICKS: Final = (
    "null item_id (the log has clicks: an order must name the clicked item it bought)")

_TS = "epoch_us(s.{col})"
_DAILY_RULES: Final = (
    Rule("ts outside its file's day", "f.day_lo IS NOT NULL AND (epoch_us(s.ts) < f.day_lo "
         "OR epoch_us(s.ts) >= f.day_hi)"),
    Rule("ts after log end", "f.day_lo IS NULL AND epoch_us(s.ts) >= {log_end}", needs="log_end"),
)


def _after_end(col: str) -> Rule:
    return Rule(f"{col} after log end", f"{_TS.format(col=col)} >= {{log_end}}", needs="log_end")


_SPECIFIC: Final[dict[str, tuple[Rule, ...]]] = {
    "users": (
        Rule("unknown country", f"s.country NOT IN {_in(COUNTRIES)}"),
        Rule("unknown platform", f"s.platform NOT IN {_in(PLATFORMS)}"),
        _after_end("signup_ts"),
    ),
    "shops": (
        Rule("rating outside [0, 5]", "NOT (s.rating BETWEEN 0 AND 5)"),
        Rule("return_rate outside [0, 1]", "NOT (s.return_rate BETWEEN 0 AND 1)"),
        _after_end("created_ts"),
    ),
    "items": (
        Rule("unknown category", f"s.category NOT IN {_in(CATEGORIES)}"),
        Rule("unknown content_type", f"s.content_type NOT IN {_in(CONTENT_TYPES)}"),
        Rule("negative or NaN price", "s.price < 0 OR isnan(s.price)"),
        _quarantined("shp"),
        Rule("unknown shop_id", "shp.shop_id IS NULL", needs="shp"),
        _after_end("created_ts"),
    ),
    "requests": (
        Rule("unknown surface", f"s.surface NOT IN {_in(SURFACES)}"),
        Rule("search without query", "s.surface = 'search' AND s.query IS NULL"),
        Rule("unknown country", f"s.country NOT IN {_in(COUNTRIES)}"),
        Rule("unknown platform", f"s.platform NOT IN {_in(PLATFORMS)}"),
        _quarantined("usr"),
        Rule("unknown user_id", "usr.user_id IS NULL", needs="usr"),
        Rule("request before user signup", "epoch_us(s.ts) < usr.signup_us", needs="usr"),
        *_DAILY_RULES,
    ),
    "impressions": (
        Rule("negative position", "s.position < 0"),
        _quarantined("req"),
        Rule("impression without request", "req.request_id IS NULL", needs="req"),
        Rule("user_id differs from request", "req.ref_user <> s.user_id", needs="req"),
        Rule("impression before request", "epoch_us(s.ts) < req.ref_ts", needs="req"),
        _quarantined("itm"),
        Rule("unknown item_id", "itm.item_id IS NULL", needs="itm"),
        Rule("item created after impression", "epoch_us(s.ts) < itm.created_us", needs="itm"),
        *_DAILY_RULES,
    ),
    "clicks": (
        _quarantined("imp"),
        Rule("click without impression", "imp.request_id IS NULL", needs="imp"),
        Rule("user_id differs from impression", "imp.ref_user <> s.user_id", needs="imp"),
        Rule("click before impression", "epoch_us(s.ts) < imp.ref_ts", needs="imp"),
        *_DAILY_RULES,
    ),
    "orders": (
        Rule("quantity < 1", "s.quantity < 1"),
        Rule("negative or NaN gmv", "s.gmv < 0 OR isnan(s.gmv)"),
        # request_id / item_id are nullable for an orders-only log; a log with requests (clicks)
        # ranks what it sells, and an order there that names no request (item) is quarantined
        Rule(NULL_REQUEST_WITH_REQUESTS, "s.request_id IS NULL", needs="req"),
        Rule(NULL_ITEM_WITH_CLICKS, "s.item_id IS NULL", needs="clk"),
        _quarantined("req"),
        Rule("order without request", "req.request_id IS NULL", needs="req"),
        Rule("user_id differs from request", "req.ref_user <> s.user_id", needs="req"),
        _quarantined("clk"),
        Rule("order without click", "clk.request_id IS NULL", needs="clk"),
        Rule("order before click", "epoch_us(s.ts) < clk.ref_ts", needs="clk"),
        *_DAILY_RULES,
    ),
    # append-only log written by the serving policy: only required columns here; the range
    # (0, 1] and the join to impressions are checked where they matter (analysis.ope)
    "propensities": (),
    # written by serving beside impressions: a team names one impression (its slot included),
    # a trigger one request; the analyses join them to impressions / requests
    "teams": (
        Rule("negative position", "s.position < 0"),
        _quarantined("imp"),
        Rule("team without impression", "imp.request_id IS NULL", needs="imp"),
        Rule("position differs from impression", "imp.ref_pos <> s.position", needs="imp"),
        Rule("user_id differs from impression", "imp.ref_user <> s.user_id", needs="imp"),
        Rule("ts differs from impression", "epoch_us(s.ts) <> imp.ref_ts", needs="imp"),
        *_DAILY_RULES,
    ),
    "triggers": (
        Rule("k < 1", "s.k < 1"),
        _quarantined("req"),
        Rule("trigger without request", "req.request_id IS NULL", needs="req"),
        Rule("user_id differs from request", "req.ref_user <> s.user_id", needs="req"),
        Rule("ts differs from request", "epoch_us(s.ts) <> req.ref_ts", needs="req"),
        *_DAILY_RULES,
    ),
    "exposures": (),  # append-only log written by assignment: only required columns
}


def _vocabulary_rule(rule: Rule, vocabularies: Vocabularies) -> Rule:
    """``unknown <column>`` against ``vocabularies`` instead of the contract's lists.

    With configured vocabularies the reason names the value and where the vocabulary came from
    (``unknown country 'FR' (not in countries of vocab.yaml)``); with the contract's own lists it
    stays ``unknown country``, the reason the demo's reports have always counted.
    """
    column = rule.reason.removeprefix("unknown ")
    condition = f"s.{column} NOT IN {_in(vocabularies.of(column))}"
    if vocabularies.is_default:
        return Rule(rule.reason, condition)
    name = VOCABULARY_COLUMNS[column]
    return Rule(
        f"{rule.reason} '<value>' (not in {name} of {vocabularies.source})",
        condition,
        reason_sql=f"{sql_str(f'{rule.reason} ' + chr(39))} || s.{column} || "
        f"{sql_str(chr(39) + f' (not in {name} of {vocabularies.source})')}",
    )


def rules_for(table: str, vocabularies: Vocabularies | None = None) -> list[Rule]:
    """The ordered rules of ``table``: nulls first, then the table's own rules.

    ``vocabularies``: the values ``country``, ``platform``, ``category``, ``content_type`` and
    ``surface`` are checked against (default: the contract's lists).
    """
    nulls = [
        Rule(f"null {c.name}", f"s.{c.name} IS NULL") for c in TABLES[table].columns
        if not c.nullable
    ]
    own = list(_SPECIFIC[table])
    if vocabularies is not None:
        own = [_vocabulary_rule(r, vocabularies)
               if r.reason.removeprefix("unknown ") in VOCABULARY_COLUMNS else r for r in own]
    return [*nulls, *own]


def duplicate_reason(table: str) -> str | None:
    """The reason given to a duplicate key row of ``table`` (None when it has no key)."""
    key = TABLES[table].key
    return f"duplicate {', '.join(key)}" if key else None
