"""A loopback Binance for tests and the conformance suite (written from the documented formats).

:class:`~exchange_binance.testing.fake.FakeBinance` installs spot or USD-M
REST routes and websocket endpoints on an ``exchanges.testing.emulator.VenueEmulator``:
exchangeInfo, depth, trades, klines, tickers, signed order entry with signature
and ``recvWindow`` checks, diff-depth/trade/ticker/kline streams that stay
consistent with the REST snapshot, and the private streams (spot WebSocket API
subscription, USD-M listen key). Nothing here is imported by the connector.
"""

from .fake import FAKE_API_KEY, FAKE_SECRET, FakeBinance

__all__ = ["FAKE_API_KEY", "FAKE_SECRET", "FakeBinance"]
