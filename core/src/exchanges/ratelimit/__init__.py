"""Rate limiting: rules as data, a FIFO-fair limiter shared per (venue, scope, identity)."""

from .rules import SCOPES, EndpointCost, RateLimitRule

__all__ = ["SCOPES", "EndpointCost", "RateLimitRule"]
