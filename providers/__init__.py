"""Built-in provider adapters, registered through the ``webhook_gateway.providers`` group."""
