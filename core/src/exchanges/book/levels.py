"""One side of a local L2 book, and the immutable lazy views handed to consumers.

Layout of :class:`BookSide` (chosen by measurement, see ``bench/RESULTS.md``):

- ``_m``: ``dict`` price string -> the raw level as received (``[price, qty, ...]``).
  It is the truth about which levels exist and their quantity. Updating the
  quantity of an existing level, the most common change, is one dict store: no
  number parsing at all.
- ``_keys`` / ``_ps``: two parallel lists sorted by a numeric key, **best level
  last** (bids by ``+price``, asks by ``-price``), so the churn near the top of
  the book only moves a few list slots. Only new levels pay for a parse and a
  ``bisect``; the lists are plain ``list`` because CPython's C ``bisect``/``insert``
  on a list of a few thousand keys beats any pure-Python tree.
- Deleting a level only removes it from ``_m`` and notes the price: its entry
  in the sorted lists stays as a *tombstone* (price no longer in ``_m``). The
  next read of the top levels (a publish, a checksum) settles the noted
  deletions that fall in the top ``_TOP_WINDOW`` slots, so readers find a clean
  top; deeper tombstones wait until the same price comes back (the slot is
  reused, no insert) or a compaction drops them in bulk (amortized O(1) per
  delete). Tombstones at the very top are trimmed after every update, so the
  best level is always live. Applying a delete therefore costs a dict pop and
  a list append, no parse, no list move.

The numeric key is ``float(price)``: every decimal string of at most 15
significant digits maps to a distinct double with the same ordering, which
covers every price the venues quote; it is used only to order levels, never as
a value (prices and quantities stay the venue's strings until a consumer reads
them as ``Decimal``). A price with more digits switches the side to exact
``Decimal`` keys once, for good.

The raw level objects are kept by reference: a decoder must not mutate a level
after feeding it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, overload

from ..models import OrderBookLevel

__all__ = ["BookSide", "LevelsView", "RawLevel"]

RawLevel = Sequence[Any]  # [price: str, quantity: str, ...] as the venue sent it
_FLOAT_DIGITS = 15  # a decimal of <= 15 significant digits round-trips through a double
_TOP_WINDOW = 64  # deletions in this many best slots are settled before the top is read
_MAX_DEAD = 512  # noted deletions kept for settling; beyond that reads fall back to _compact_top


def _float_is_exact_enough(price: str) -> bool:
    """True when ``price`` has at most 15 significant digits (its float orders it exactly)."""
    mantissa = price.lstrip("+-").split("e")[0].split("E")[0]
    digits = mantissa.replace(".", "").strip("0")
    return len(digits) <= _FLOAT_DIGITS


def _is_zero(quantity: str) -> bool:
    # "0", "0.0", "0.00000000" all delete; compare the text, parsing costs more
    return not quantity.strip("0.")


def _parse_key(price: str, sign: int, exact: bool) -> Any:
    """``sign * price`` as a float (or a Decimal when ``exact``); ValueError unless finite."""
    try:
        key: Any = sign * (Decimal(price) if exact else float(price))
        finite = key - key == 0
    except (ArithmeticError, ValueError, TypeError):
        finite = False
    if not finite:
        raise ValueError(f"not a finite price: {price!r}")
    return key


LevelCache = dict[str, tuple[RawLevel, OrderBookLevel]]


class BookSide:
    """The bids or the asks of a local book (see the module docstring for the layout)."""

    __slots__ = ("_dead", "_exact", "_is_bid", "_keys", "_m", "_made", "_ps", "_sign")

    def __init__(self, is_bid: bool) -> None:
        self._is_bid = is_bid
        self._sign = 1 if is_bid else -1
        self._exact = False  # True once a price needed Decimal keys
        self._m: dict[str, RawLevel] = {}
        self._keys: list[Any] = []
        self._ps: list[str] = []
        self._dead: list[str] = []  # prices deleted since the top was last settled
        self._made: LevelCache = {}  # OrderBookLevel already built for a raw level (see LevelsView)

    @property
    def is_bid(self) -> bool:
        """True for the bid side."""
        return self._is_bid

    def __len__(self) -> int:
        return len(self._m)

    def _key(self, price: str) -> Any:
        """The sort key of ``price`` (validated: finite, exact enough for a float key)."""
        if not self._exact and len(price) > _FLOAT_DIGITS and not _float_is_exact_enough(price):
            self._make_exact()
        return _parse_key(price, self._sign, self._exact)

    def _make_exact(self) -> None:
        # Rare: a price with more than 15 significant digits. Re-key everything with Decimal.
        self._exact = True
        self._keys = [self._sign * Decimal(p) for p in self._ps]

    def replace(self, levels: Iterable[RawLevel]) -> None:
        """Replace the whole side (a snapshot), read in order like updates on an empty side.

        A zero quantity is no level; a price given twice (also spelled differently,
        ``"100"`` / ``"100.0"``) keeps the later entry.
        """
        levels = list(levels)
        exact = any(len(lv[0]) > _FLOAT_DIGITS and not _float_is_exact_enough(lv[0]) for lv in levels)
        sign = self._sign
        by_key: dict[Any, RawLevel] = {}
        for level in levels:  # validate everything before touching the side
            key = _parse_key(level[0], sign, exact)
            by_key.pop(key, None)  # re-insert so a respelled price keeps its latest spelling
            if not _is_zero(level[1]):
                by_key[key] = level
        self._exact = exact
        self._keys = sorted(by_key)
        self._ps = [by_key[k][0] for k in self._keys]
        self._m = {level[0]: level for level in by_key.values()}
        self._dead = []
        self._made = {}

    def update(self, levels: Iterable[RawLevel]) -> None:
        """Apply absolute quantities: set a level, or delete it when the quantity is zero.

        Deleting a level that is not in the book is a no-op (venues send those).
        """
        m = self._m
        keys = self._keys
        ps = self._ps
        sign = self._sign
        exact = self._exact
        dead = self._dead
        for level in levels:
            price = level[0]
            if level[1].strip("0."):  # a non-zero quantity (inlined _is_zero: hot loop)
                if price in m:
                    m[price] = level
                    continue
                if exact or len(price) > _FLOAT_DIGITS:
                    key = self._key(price)
                    exact = self._exact
                    keys = self._keys  # _key may have re-keyed the side
                else:
                    key = sign * float(price)
                    if key - key != 0:
                        raise ValueError(f"not a finite price: {price!r}")
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    # A tombstone of this price, or the same price spelled differently: reuse the slot.
                    old = ps[i]
                    if old != price:
                        m.pop(old, None)
                        ps[i] = price
                else:
                    keys.insert(i, key)
                    ps.insert(i, price)
                m[price] = level
            elif m.pop(price, None) is not None:
                dead.append(price)  # its slot becomes a tombstone; settled when the top is read
            else:
                # Absent under this spelling: it may be stored as "100.0" while the delete says "100".
                key = self._key(price) if exact or len(price) > _FLOAT_DIGITS else sign * float(price)
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    m.pop(ps[i], None)
        if ps and ps[-1] not in m:
            self._trim()
        if len(dead) > _MAX_DEAD:  # nobody reads the top: drop the notes (tombstones stay correct)
            self._dead = []
            if len(ps) > 2 * len(m) + 64:
                self._compact()

    def _trim(self) -> None:
        """Drop tombstones at the top so the last slot is always the live best level."""
        m, ps, keys = self._m, self._ps, self._keys
        while ps and ps[-1] not in m:
            ps.pop()
            keys.pop()

    def _compact(self) -> None:
        """Drop every tombstone (O(n), run when they outnumber live levels)."""
        m = self._m
        live = [(k, p) for k, p in zip(self._keys, self._ps, strict=True) if p in m]
        self._keys = [k for k, _ in live]
        self._ps = [p for _, p in live]
        self._dead = []

    def _settle(self) -> None:
        """Remove the slots of noted deletions that lie in the top window (reads want a clean top)."""
        dead = self._dead
        self._dead = []
        m, keys, ps = self._m, self._keys, self._ps
        if len(ps) > 2 * len(m) + 64:  # deep tombstones piled up: drop them all at once
            self._compact()
            return
        if not keys:
            return
        lo = max(len(keys) - _TOP_WINDOW, 0)
        floor = keys[lo]  # slots at or above lo keep keys >= floor while we delete above them
        sign = self._sign
        for price in dead:
            if price in m:
                continue  # came back: its slot is live again
            key = self._key(price) if self._exact else sign * float(price)
            if key >= floor:
                i = bisect_left(keys, key, lo)
                if i < len(keys) and ps[i] == price:
                    del keys[i]
                    del ps[i]

    def best_key(self) -> Any:
        """Sort key of the best level (``+price`` for bids, ``-price`` for asks), or None."""
        return self._keys[-1] if self._keys else None

    def best(self) -> RawLevel | None:
        """The raw best level, or None when the side is empty."""
        return self._m[self._ps[-1]] if self._ps else None

    def view(self, depth: int | None = None, count_index: int | None = None) -> LevelsView:
        """An immutable view of the best ``depth`` levels (all when None), materialized lazily."""
        return LevelsView(self.top(depth), count_index, self._made)

    def top(self, depth: int | None = None) -> list[RawLevel]:
        """A new list of the best ``depth`` raw levels (all when None), best first."""
        if self._dead:
            self._settle()
        m = self._m
        if depth is None or depth >= len(m):
            if len(self._ps) != len(m):
                self._compact()
            return list(map(m.__getitem__, reversed(self._ps)))
        if depth <= 0:
            return []
        out = list(map(m.get, self._ps[: -depth - 1 : -1]))
        if not all(out):  # a None: tombstones just below the top, squeeze them out of that region once
            self._compact_top(depth)
            out = list(map(m.__getitem__, self._ps[: -depth - 1 : -1]))
        return out  # type: ignore[return-value]

    def _compact_top(self, depth: int) -> None:
        m, ps, keys = self._m, self._ps, self._keys
        live: list[int] = []
        j = len(ps) - 1
        while j >= 0 and len(live) < depth:
            if ps[j] in m:
                live.append(j)
            j -= 1
        live.reverse()
        ps[j + 1 :] = [ps[i] for i in live]
        keys[j + 1 :] = [keys[i] for i in live]

    def __iter__(self) -> Iterator[RawLevel]:
        """Raw levels best first (a snapshot of the current state)."""
        return iter(self.top(None))

    def prices(self) -> list[str]:
        """Price strings of the live levels, best first."""
        return [level[0] for level in self.top(None)]


_new_tuple = tuple.__new__  # OrderBookLevel(...) goes through a Python-level __new__; this does not
_MAX_MADE = 4096  # cached OrderBookLevel per side before the cache starts over


def _make_level(raw: RawLevel, count_index: int | None, cache: LevelCache | None) -> OrderBookLevel:
    if cache is not None:
        # Consecutive books mostly share their top levels: the same raw object (identity, and
        # the cache keeps it alive so the id cannot be reused) gives the same OrderBookLevel.
        hit = cache.get(raw[0])
        if hit is not None and hit[0] is raw:
            return hit[1]
    count = None
    if count_index is not None and len(raw) > count_index:
        count = int(raw[count_index])
    level: OrderBookLevel = _new_tuple(OrderBookLevel, (Decimal(raw[0]), Decimal(raw[1]), count))
    if cache is not None:
        if len(cache) >= _MAX_MADE:
            cache.clear()
        cache[raw[0]] = (raw, level)
    return level


class LevelsView(Sequence[OrderBookLevel]):
    """An immutable, lazily materialized ``Sequence[OrderBookLevel]`` (best level first).

    Holds its own list of raw levels captured when the book was published; a
    level becomes an :class:`OrderBookLevel` (two ``Decimal`` parses) the first
    time it is read, and is cached. Reading ``bids[0]`` costs one level, not the
    whole side.
    """

    __slots__ = ("_built", "_cache", "_count_index", "_raw")

    def __init__(
        self, raw: Sequence[RawLevel], count_index: int | None = None, cache: LevelCache | None = None
    ) -> None:
        self._raw = raw
        self._count_index = count_index
        self._cache = cache  # shared with the side's other views (see _make_level)
        self._built: list[OrderBookLevel] = []

    def __len__(self) -> int:
        return len(self._raw)

    def _build_to(self, stop: int) -> list[OrderBookLevel]:
        built = self._built
        raw = self._raw
        count_index = self._count_index
        cache = self._cache
        for i in range(len(built), min(stop, len(raw))):
            built.append(_make_level(raw[i], count_index, cache))
        return built

    @overload
    def __getitem__(self, index: int) -> OrderBookLevel: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[OrderBookLevel, ...]: ...

    def __getitem__(self, index: int | slice) -> OrderBookLevel | tuple[OrderBookLevel, ...]:
        built = self._built
        if index.__class__ is int:  # fast paths: a level already built, or the next one (best_bid...)
            if 0 <= index < len(built):  # type: ignore[operator]
                return built[index]  # type: ignore[index]
            if index == len(built) < len(self._raw):
                level = _make_level(self._raw[index], self._count_index, self._cache)  # type: ignore[index]
                built.append(level)
                return level
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._raw))
            built = self._build_to(max(start, stop) + 1 if step < 0 else stop)
            return tuple(built[i] for i in range(start, stop, step))
        size = len(self._raw)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("book level index out of range")
        return self._build_to(index + 1)[index]

    def __iter__(self) -> Iterator[OrderBookLevel]:
        return iter(self._build_to(len(self._raw)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LevelsView | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        head = ", ".join(f"({lv.price}, {lv.quantity})" for lv in self[:3])
        more = f", ... {len(self) - 3} more" if len(self) > 3 else ""
        return f"LevelsView([{head}{more}])"

    @property
    def raw(self) -> Sequence[RawLevel]:
        """The captured raw levels (the venue's strings), best first."""
        return tuple(self._raw)
