"""How the gateway talks to providers: one pooled session with timeouts, retries and error
mapping (``http``), token sources and the bearer middleware (``auth``), reading provider
answers (``answers``), paging a page ahead (``paging``), shared reads (``collapse``) and the
changes waiting for one webhook merged into one write (``merged_writes``).

It sits under the provider contract: adapters build on it, and it imports only the core's
basics (``gateway.errors``, ``gateway.model``, ``gateway.checks``).
"""
