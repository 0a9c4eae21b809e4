"""Enterprise Core (Socotra Insurance Suite): the adapter (``adapter``), its wire format
(``wire``) and a local emulator of the webhooks API (``emulator``)."""
