"""Reading rate-limit feedback from response headers (used weight, order counts, Retry-After)."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping

__all__ = ["UNIT_SECONDS", "parse_retry_after", "parse_usage_headers"]

#: Interval units of Binance's ``X-MBX-USED-WEIGHT-<n><unit>`` and ``X-MBX-ORDER-COUNT-<n><unit>``.
UNIT_SECONDS: Mapping[str, float] = {"S": 1.0, "M": 60.0, "H": 3600.0, "D": 86400.0}

_INTERVAL = re.compile(r"^(\d+)([SMHD])$", re.IGNORECASE)


def parse_usage_headers(headers: Mapping[str, str], prefix: str = "X-MBX-USED-WEIGHT-") -> list[tuple[float, int]]:
    """Usage reported in headers named ``prefix + <n><unit>``, as ``(window seconds, used)`` pairs.

    ``X-MBX-USED-WEIGHT-1M: 42`` gives ``[(60.0, 42)]``; units are ``S M H D``.
    Names match case-insensitively (HTTP libraries differ in how they case
    them); headers whose interval or value does not parse are skipped. Sorted
    by window.
    """
    folded = prefix.lower()
    found: list[tuple[float, int]] = []
    for name, value in headers.items():
        if len(name) <= len(folded) or name[: len(folded)].lower() != folded:
            continue
        match = _INTERVAL.match(name[len(folded) :])
        text = str(value).strip()
        if match is None or not text.isdigit():
            continue
        found.append((int(match.group(1)) * UNIT_SECONDS[match.group(2).upper()], int(text)))
    found.sort()
    return found


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    ``now`` is the Unix time an HTTP date is measured from (default: the
    current time); a date already past gives ``0.0``. Negative numbers and
    unparsable values give None.
    """
    value = None
    for name, raw in headers.items():
        if name.lower() == "retry-after":
            value = str(raw).strip()
            break
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        # a date already past means "now"
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
