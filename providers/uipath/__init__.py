"""UiPath Orchestrator: the adapter (``adapter``), its wire format (``wire``), delivery
signatures (``signature``) and a local emulator of the API (``emulator``)."""
