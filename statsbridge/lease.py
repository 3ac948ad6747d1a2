"""Exactly one active bridge: a lease in Redis, renewed while the holder lives.

The holder sets the key with a time-to-live of ``LEASE_SECONDS`` and renews it every
third of that; if it dies, the key expires and a standby (polling at the same rate)
takes over within ``LEASE_SECONDS`` plus one poll. Renewal and release only touch the
key while it still names this holder (or, for renewal, while nobody holds it), so a
holder that paused past its lease can never cut short its successor's. Without Redis, ``LocalLease`` always holds.
"""

import logging

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

    def __repr__(self) -> str:
        return f"<RedisLease {self.key} as {self.identity}>"

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or we already do)."""
        try:
            if await self._redis.set(self.key, self.identity, nx=True, px=int(self.seconds * 1000)):
                return True
            return await self.renew()
        except RedisError as error:
            log.warning("lease %s: Redis error on acquire: %s", self.key, type(error).__name__)
            return False

    async def renew(self) -> bool:
        """Extend the lease (re-take it if the key vanished); False when someone else holds it
        or Redis is unreachable."""
        try:
            return bool(await self._redis.eval(_RENEW, 1, self.key, self.identity, int(self.seconds * 1000)))
        except RedisError as error:
            log.warning("lease %s: Redis error on renew: %s", self.key, type(error).__name__)
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
