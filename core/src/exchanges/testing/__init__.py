"""Testing kit for plugin authors: the conformance suite, the loopback venue emulator, cassettes.

Submodules load on demand (``exchanges.testing.emulator`` pulls in aiohttp).
"""
