"""Exactly one active bridge: a lease in Redis, renewed while the holder lives.

The holder sets the key with a time-to-live of ``LEASE_SECONDS`` and renews it every
third of that; if it dies, the key expires and a standby (polling at the same rate)
takes over within ``LEASE_SECONDS`` plus one poll. Renewal and release only touch the
key while it still names this holder (or, for renewal, while nobody holds it), so a
holder that paused past its lease can never cut short its successor's. Without Redis, ``LocalLease`` always holds.

A Redis blip (a restart, a dropped pooled connection) must not hand the bridge over:
every handover makes the upstream drop and re-create every subscription. So a holder
whose renewal meets a Redis error keeps the lease for as long as its key cannot have
expired, and a standby that met a Redis error stays back for one lease period after,
leaving the restarted, empty Redis to the holder's next renewal.
"""

import logging
import time

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Renewing re-takes a key that vanished (Redis restarted empty, or the key expired with
# nobody claiming it): the holder is still running its bridge, and handing over to a
# standby would only make the upstream drop and re-create every subscription.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if not holder then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LocalLease:
    """The lease of a lone bridge (embedded, no Redis): always held."""

    seconds = 1.0

    async def acquire(self) -> bool:
        """Always succeeds."""
        return True

    async def renew(self) -> bool:
        """Always succeeds."""
        return True

    async def release(self) -> None:
        """Nothing to release."""

    async def close(self) -> None:
        """Nothing to close."""


class RedisLease:
    """A lease on ``key`` in Redis held by ``identity`` for ``seconds`` at a time."""

    def __init__(self, url: str, key: str, identity: str, seconds: float):
        self.key = key
        self.identity = identity
        self.seconds = seconds
        self._redis = redis.from_url(url, max_connections=4)
        self._valid_until = 0.0  # (monotonic) our key cannot have expired before this
        self._stay_back_until = 0.0  # (monotonic) a standby that met a Redis error waits till then

    def __repr__(self) -> str:
        return f"<RedisLease {self.key} as {self.identity}>"

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or we already do); after a Redis error, not
        before one lease period has passed (a holder that lived through it re-takes first)."""
        if time.monotonic() < self._stay_back_until:
            return False
        started = time.monotonic()
        try:
            if await self._redis.set(self.key, self.identity, nx=True, px=int(self.seconds * 1000)):
                self._valid_until = started + self.seconds
                return True
            return await self._renew(started)
        except RedisError as error:
            log.warning("lease %s: Redis error on acquire: %s", self.key, type(error).__name__)
            self._stay_back_until = time.monotonic() + self.seconds
            return False

    async def renew(self) -> bool:
        """Extend the lease (re-take it if the key vanished); False when someone else holds
        it, or when Redis has been unreachable for as long as the key could live."""
        started = time.monotonic()
        try:
            return await self._renew(started)
        except RedisError as error:
            still_ours = time.monotonic() < self._valid_until
            log.warning("lease %s: Redis error on renew: %s; %s", self.key, type(error).__name__,
                        "holding on while it cannot have expired" if still_ours else "it may have expired")
            return still_ours

    async def _renew(self, started: float) -> bool:
        """One renewal round trip begun at ``started`` (monotonic); raises RedisError."""
        if await self._redis.eval(_RENEW, 1, self.key, self.identity, int(self.seconds * 1000)):
            self._valid_until = started + self.seconds
            return True
        return False

    async def release(self) -> None:
        """Give the lease up at once so a standby need not wait for it to expire."""
        try:
            await self._redis.eval(_RELEASE, 1, self.key, self.identity)
        except RedisError as error:
            log.warning("lease %s: Redis error on release: %s", self.key, type(error).__name__)

    async def holder(self) -> str | None:
        """Who holds the lease now, or None."""
        value = await self._redis.get(self.key)
        return value.decode() if value is not None else None

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()
