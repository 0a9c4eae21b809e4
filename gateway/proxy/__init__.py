"""The HTTP proxy: the gateway's routes over HTTP (``server``), who may call them (``keys``),
error answers (``problems``), where webhooks may point (``policy``), Prometheus metrics
(``metrics``), structured and access logs (``logs``), the OpenAPI document (``openapi``) and
the listening socket's limits on connections and slow clients (``connections``)."""
