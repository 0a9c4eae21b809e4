"""Orchestry: the adapter (``adapter``), MSAL tokens (``tokens``), its assumed wire format
(``wire``), delivery verification (``verification``) and a local emulator with its own identity
platform over TLS (``emulator``)."""
