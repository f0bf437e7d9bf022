"""``python -m exchanges.cli``: the same as the ``exchanges`` console script."""

from . import main

main()
