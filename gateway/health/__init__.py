"""Health over time, above the facade: ``watch`` (the polling loop and its transitions),
``events`` (operational events to sinks, signed per Standard Webhooks), ``verify`` (one check for
every provider's deliveries), ``rotation`` (secrets and their grace periods) and ``relay`` (the
inbound relay's core; the proxy keeps only its route).
"""
