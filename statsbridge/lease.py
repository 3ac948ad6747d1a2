"""Exactly one active bridge: a lease in Redis, renewed while the holder lives.

The holder sets the key with a time-to-live of ``LEASE_SECONDS`` and renews it every
third of that; if it dies, the key expires and a standby (polling at the same rate)
takes over within ``LEASE_SECONDS`` plus one poll. Renewal and release only touch the
key while it still names this holder (or, for renewal, while nobody holds it), so a
holder that paused past its lease can never cut short its successor's. Without Redis, ``LocalLease`` always holds.

A Redis restart (or failover to an empty replica) must not hand the bridge over: every
handover makes the upstream drop and re-create every subscription. So:

- the holder keeps its lease through Redis errors for as long as its key cannot have
  expired, and its next renewal re-takes the key the restart wiped;
- a standby that sees the key vanish before its time-to-live could have run out, or that
  meets a Redis error, stays back for one lease period, leaving the key to the holder's
  renewal; it keeps polling meanwhile, so a second restart during that time is noticed
  too. A key that expired (its holder died) is taken at once;
- a released key is marked released rather than deleted, so that a clean stop is still
  taken over at once instead of looking like a vanished key.
"""

import logging
import time

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError

log = logging.getLogger(__name__)

RELEASED = "released"


def holder_of(value: bytes | None) -> str | None:
    """Pure: the identity a lease key's raw value names; None when nobody holds it (or
    its holder released it)."""
    name = value.decode() if value is not None else None
    return name if name != RELEASED else None

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
# Who holds the key and for how many more milliseconds: {holder or "", pttl}.
_PROBE = """
local holder = redis.call('get', KEYS[1])
if not holder then
  return {'', -2}
end
return {holder, redis.call('pttl', KEYS[1])}
"""
# Take the key if nobody holds it or its holder released it.
_TAKE = """
local holder = redis.call('get', KEYS[1])
if (not holder) or holder == ARGV[3] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
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
        # A restart closes every pooled connection: one retry on a fresh connection
        # tells "Redis is back" from "Redis is down" instead of failing on the dead one.
        self._redis = redis.from_url(url, max_connections=4, retry=Retry(NoBackoff(), 1),
                                     retry_on_error=[ConnectionError])
        self._valid_until = 0.0  # (monotonic) the holder's key cannot have expired before this
        self._expires_at = 0.0  # (monotonic) another holder's key cannot expire before this
        self._stay_back_until = 0.0  # (monotonic) a standby leaves a vanished key alone until then

    def __repr__(self) -> str:
        return f"<RedisLease {self.key} as {self.identity}>"

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or we already do); a key that vanished before
        it could expire is left to its holder for one lease period."""
        sent = time.monotonic()
        try:
            holder, pttl = await self._redis.eval(_PROBE, 1, self.key)
            holder = holder.decode()
            if holder == self.identity:
                return await self._renew(sent)
            now = time.monotonic()
            if holder and holder != RELEASED:
                self._expires_at = sent + max(pttl, 0) / 1000
                return False
            if not holder and now < self._expires_at:
                self._stay_back(now, "the lease key vanished before it could expire (Redis restarted?)")
            self._expires_at = 0.0
            if now < self._stay_back_until:
                return False
            if await self._redis.eval(_TAKE, 1, self.key, self.identity, self._milliseconds, RELEASED):
                self._valid_until = sent + self.seconds
                return True
            return False
        except RedisError as error:
            self._stay_back(time.monotonic(), f"Redis error on acquire: {type(error).__name__}")
            return False

    async def renew(self) -> bool:
        """Extend the lease (re-take it if the key vanished); False when someone else holds
        it, or when Redis has been unreachable for as long as the key could live."""
        sent = time.monotonic()
        try:
            return await self._renew(sent)
        except RedisError as error:
            still_ours = time.monotonic() < self._valid_until
            log.warning("lease %s: Redis error on renew: %s; %s", self.key, type(error).__name__,
                        "holding on while it cannot have expired" if still_ours else "it may have expired")
            return still_ours

    async def release(self) -> None:
        """Give the lease up at once so a standby need not wait for it to expire."""
        self._valid_until = 0.0
        try:
            await self._redis.eval(_RELEASE, 1, self.key, self.identity, RELEASED, self._milliseconds)
        except RedisError as error:
            log.warning("lease %s: Redis error on release: %s", self.key, type(error).__name__)

    async def holder(self) -> str | None:
        """Who holds the lease now, or None."""
        return holder_of(await self._redis.get(self.key))

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()

    @property
    def _milliseconds(self) -> int:
        return int(self.seconds * 1000)

    async def _renew(self, sent: float) -> bool:
        """One renewal round trip begun at ``sent`` (monotonic); raises RedisError."""
        if await self._redis.eval(_RENEW, 1, self.key, self.identity, self._milliseconds):
            self._valid_until = sent + self.seconds
            return True
        self._valid_until = 0.0
        return False

    def _stay_back(self, now: float, why: str) -> None:
        """Leave the key to whoever held it for one lease period (logged once per period)."""
        if now >= self._stay_back_until:
            log.warning("lease %s: %s; standing back for %.1f s", self.key, why, self.seconds)
        self._stay_back_until = now + self.seconds
