"""Each account's rate budget at its provider, shared by every replica.

Providers limit requests per tenant and answer 429 with ``Retry-After`` once the limit is
spent. Before, each call retried its own 429 a few times and gave up (one create in 600 was
lost in an apply under 20 % of 429s), and replicas, watch and apply kept sending into a limit
that was spent, each earning its own 429. Now each account has a ``RateBudget``:

* **Learned.** A third 429 in a row (the budget is spent: requests sent into a spent window
  are refused each; a passing 429 among answers taken only delays its own request, by its
  ``Retry-After``) pauses the account until its ``Retry-After`` (1 s without one): no request
  of that account is sent before then, in this process, and through the state store
  (``rate_budgets``) in every replica, which reads the pause at most once a second while it
  sends. So after the first 429 of a window, the others wait for the window to end instead
  of colliding with it. The 429 also teaches the window: the requests the provider took since
  the last one, over the time since then and the pause; the next three windows are sent no
  more than that (so the requests waiting are not all sent into the next window at once), and
  then the account sends freely until its next pause.
* **Configured** (``rate_limit = "100/60"`` in the account's table): one request every
  ``60 / 100`` seconds, every replica's in one sequence kept in the store (one statement a
  request; without a store, in this process), so that no window of 60 s, wherever the provider
  starts it, holds more than 100, and the limit is never met at all.
* **Bounded by time, not attempts.** A request answered 429 was not processed (RFC 6585), so
  it is sent again after the pause, whatever its method, for as long as the call may wait
  for the budget in all (``[http.retry] rate_wait``, 300 s by default); then it fails with
  ``RateLimited`` (at once with ``max_attempts = 1``, which turns every retry off). Time
  spent waiting for the budget does not count against the call's ``total_timeout`` (nothing
  is in flight meanwhile), so a create queued behind a spent window is not lost to its
  deadline.
* **Seen.** Each pause is logged once, as a warning with the account, the wait and why (the
  command line prints warnings on stderr).

Hand-written: the limiter libraries (aiolimiter, limits) count requests in one process; none
learns a pause from ``Retry-After`` or shares it through this gateway's state store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import attrs

from gateway.errors import GatewayError, RateLimited

__all__ = ["RateBudget", "RateQuota", "SharedRates"]

log = logging.getLogger("gateway.transport")

#: How often a sending replica reads the pause other replicas learned (seconds).
SHARED_READ = 1.0
#: The pause after a 429 without a usable ``Retry-After`` (seconds).
DEFAULT_PAUSE = 1.0
#: 429s in a row that tell a spent budget from a passing refusal (a burst of requests sent
#: into a spent window is answered 429 each; a provider's odd refusal comes alone).
RUN = 3
#: Windows sent under what a pause taught, before sending freely again (a limit still there
#: teaches it anew at its next 429s; an odd run of 429s does not slow the account for long).
LEARNED_WINDOWS = 3


@attrs.frozen
class RateQuota:
    """``requests`` a ``window`` of seconds (``rate_limit = "100/60"``)."""

    requests: int
    window: float

    @classmethod
    def parse(cls, text: str) -> RateQuota:
        count, slash, window = text.partition("/")
        try:
            quota = cls(int(count), float(window) if slash else 60.0)
        except ValueError:
            raise ValueError("must be requests/seconds, e.g. 100/60") from None
        if not (1 <= quota.requests <= 1_000_000 and 0 < quota.window <= 86400):
            raise ValueError("must be 1 to 1000000 requests a window of up to 86400 s")
        return quota


class SharedRates(Protocol):
    """What the state store keeps of the budgets (``gateway.store``)."""

    async def pause_rate(self, account: str, until: float) -> None: ...
    async def rate_paused(self, account: str) -> float: ...
    async def take_rate(self, account: str, now: float, interval: float) -> tuple[float, float]: ...


class RateBudget:
    """One account's budget (see the module doc). ``admit()`` before each request waits until
    it may be sent; ``refused(retry_after)`` after a 429."""

    def __init__(
        self,
        account: str,
        quota: RateQuota | None = None,
        shared: SharedRates | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account, self.quota, self.shared = account, quota, shared
        self._clock = clock
        self.paused_until = 0.0  # epoch seconds
        self._read_at = 0.0  # when the shared pause was last read
        self._next_slot = 0.0  # without a store: when the next request may go (epoch s)
        #: What the last pause taught: the requests the provider took in the window it ended,
        #: and that window's length; the ``LEARNED_WINDOWS`` after it are sent no more (in this
        #: process).
        self.learned: RateQuota | None = None
        self._learned_window = (0.0, 0)  # (start, admitted)
        self._since = 0.0  # when the provider's current window began, as far as is known
        self._accepted = 0  # requests it took since
        self._run = 0  # 429s in a row: is the budget spent, or was that a passing refusal?
        self._learned_windows = 0  # windows sent under what the last pause taught
        self.limited = 0  # 429s answered to this account

    async def admit(self, limit: float) -> float:
        """Wait until a request may be sent; how long it waited. ``RateLimited`` when that
        would take more than ``limit`` seconds."""
        waited = 0.0
        while True:  # what 429s taught: a pause, the window it ended
            wait = await self._paused(self._clock())
            if wait <= 0:
                break
            self._beyond(waited + wait, wait, limit)
            await asyncio.sleep(wait)
            waited += wait
        if self.quota is not None:  # the configured limit: this request's own time slot
            now = self._clock()
            wait = await self._slot(now) - now
            if wait > 0:
                self._beyond(waited + wait, wait, limit)
                await asyncio.sleep(wait)
                waited += wait
        return waited

    def _beyond(self, total: float, wait: float, limit: float) -> None:
        if total > limit:
            raise RateLimited(
                f"{self.account}: the provider's rate limit is spent for another {wait:.1f} s, "
                f"beyond the {limit:g} s a call waits for it",
                retry_after=wait,
                account=self.account,
            )

    async def _paused(self, now: float) -> float:
        """Seconds to wait from ``now`` for a learned pause or window (0: go on), the request
        counted in the learned window when it may go."""
        if self.shared is not None and now - self._read_at >= SHARED_READ:
            self._read_at = now
            try:
                shared = await self.shared.rate_paused(self.account)
            except GatewayError as exc:  # the store's trouble is not the provider's: go on
                _unshared(self.account, exc)
            else:
                if shared > self.paused_until:  # another replica's 429: a window ends then
                    self.paused_until = shared
                    self._since, self._accepted = shared, 0
                    self._learned_window = (shared, 0)
        if self.paused_until > now:
            return self.paused_until - now
        if self.learned is not None:
            start, admitted = self._learned_window
            if now - start >= self.learned.window:
                start, admitted = now, 0
                self._learned_windows += 1
                if self._learned_windows > LEARNED_WINDOWS:
                    self.learned = None
                    return 0.0
            if admitted >= self.learned.requests:  # as many as the provider took: the next one
                return max(start + self.learned.window - now, 0.001)
            self._learned_window = (start, admitted + 1)
        return 0.0

    async def _slot(self, now: float) -> float:
        """The time this request may be sent under the configured limit: one every
        ``window / requests`` seconds, every replica's in one sequence (the store's), so that
        no window of that length, wherever the provider starts it, holds more than
        ``requests`` (a fixed window counted here would let two half-windows' bursts meet in
        one of the provider's)."""
        assert self.quota is not None
        interval = self.quota.window / self.quota.requests
        if self.shared is not None:
            try:
                slot, paused = await self.shared.take_rate(self.account, now, interval)
            except GatewayError as exc:
                _unshared(self.account, exc)
            else:
                self.paused_until = max(self.paused_until, paused)
                return slot
        slot = max(self._next_slot, now)
        self._next_slot = slot + interval
        return slot

    def accepted(self) -> None:
        """A request the provider took (answered anything but 429)."""
        if not self._since:
            self._since = self._clock()
        self._accepted += 1
        self._run = 0

    async def refused(self, retry_after: float | None) -> float:
        """A 429: how long the refused request waits before it is sent again. The ``RUN``th
        429 in a row says the budget is spent: the account pauses until the ``Retry-After``,
        here and for every replica (0 is returned: ``admit`` waits), and learns how many
        requests a window the provider takes. A 429 before that (a passing refusal) delays
        only its own request, by its ``Retry-After``."""
        self.limited += 1
        self._run += 1
        pause = retry_after if retry_after is not None and retry_after >= 0 else DEFAULT_PAUSE
        now = self._clock()
        until = now + pause
        if now < self.paused_until or until <= self.paused_until:
            return 0.0  # (one of the requests in flight when the first was refused)
        if self._run < RUN:
            return pause
        if self._since and self._accepted:
            self.learned = RateQuota(self._accepted, now - self._since + pause)
            self._learned_windows = 0
        self.paused_until = until
        self._since, self._accepted = until, 0
        self._learned_window = (until, 0)
        log.warning(
            "the provider is limiting this account's requests: none is sent for %.1f s "
            "(its Retry-After), then they go on",
            pause,
            extra={"account": self.account, "retry_after": pause},
        )
        if self.shared is not None:
            try:
                await self.shared.pause_rate(self.account, until)
            except GatewayError as exc:
                _unshared(self.account, exc)
        return 0.0


def _unshared(account: str, exc: GatewayError) -> None:
    log.warning(
        "the rate budget could not be shared through the state store: this process keeps "
        "its own meanwhile",
        extra={"account": account, "error": str(exc)},
    )
