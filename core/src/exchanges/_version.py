"""Version of exchange-core (single source: read by hatch and by the plugin version gate)."""

__version__ = "0.1.0"
