"""Built-in provider adapters; each registers through the ``webhook_gateway.providers`` entry points."""
