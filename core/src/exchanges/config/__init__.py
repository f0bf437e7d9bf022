"""YAML configuration: ``exchanges.yaml`` (or ``$EXCHANGES_CONFIG``) with ``${ENV}`` interpolation.

::

    exchanges:
      binance:
        testnet: ${USE_TESTNET:-true}
        credentials:
          api_key: ${BINANCE_API_KEY}
          secret: ${BINANCE_SECRET:-}
        endpoints: {rest: http://127.0.0.1:8080}
        rate_limits:
          - {key: weight, limit: 1200, window: 60}
        options: {recv_window: 5000}

Every mistake (unknown key, wrong type, unset variable, YAML syntax) raises
:class:`ConfigFileError` (a :class:`~exchanges.errors.ConfigError`) with one
``file:line: key: problem`` line per problem. Credential values never appear
in a ``repr`` nor in an error message. See ``docs/config.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..credentials import Credentials
from ..errors import ConfigError
from ._model import Config, ConfigFileError, ConfigProblem, ExchangeConfig

__all__ = [
    "DEFAULT_FILE",
    "ENV_VAR",
    "Config",
    "ConfigFileError",
    "ConfigProblem",
    "ExchangeConfig",
    "load_config",
    "parse_config",
]

#: file looked up in the working directory when no path is given.
DEFAULT_FILE = "exchanges.yaml"
#: environment variable naming the configuration file.
ENV_VAR = "EXCHANGES_CONFIG"


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate a configuration file.

    With ``path`` None: the file named by ``$EXCHANGES_CONFIG`` (which must
    exist), else ``./exchanges.yaml`` when there is one, else an empty
    :class:`Config` (``source`` None). An explicit ``path`` must exist.
    ``environ`` (default ``os.environ``) serves both ``$EXCHANGES_CONFIG`` and
    the ``${VAR}`` interpolations.

    :raises ConfigError: the file is missing or unreadable.
    :raises ConfigFileError: the file is invalid (every problem, with its line).
    """
    env = os.environ if environ is None else environ
    if path is None:
        named = env.get(ENV_VAR)
        if named:
            if not os.path.isfile(named):
                raise ConfigError(f"{ENV_VAR} names {named!r}, which is not an existing file")
            path = named
        else:
            default = os.path.join(os.getcwd(), DEFAULT_FILE)
            if not os.path.isfile(default):
                return Config()
            path = default
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8-sig") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {source!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {source!r} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {source!r} cannot be read: {exc.strerror or exc}") from None
    return parse_config(text, source=source, environ=env)


def parse_config(text: str, *, source: str = "<string>", environ: Mapping[str, str] | None = None) -> Config:
    """Parse configuration ``text``; ``source`` names it in error messages and in :attr:`Config.source`.

    :raises ConfigFileError: the text is invalid (every problem, with its line).
    """
    from ._schema import build_config
    from ._tree import Problems, compose

    secrets: frozenset[str] = frozenset()
    try:
        tree, secrets = compose(text, os.environ if environ is None else environ)
        return build_config(tree, source)
    except Problems as exc:
        # Messages never quote a credential, but a secret pasted (or interpolated) into another
        # field would be quoted there: scrub every credential value met in the file.
        scrub = Credentials({str(i): s for i, s in enumerate(secrets | exc.secrets)}).redact
        problems = sorted({(p.line, p.key, scrub(p.message)) for p in exc.problems})
        raise ConfigFileError(source, [ConfigProblem(source, *p) for p in problems]) from None
