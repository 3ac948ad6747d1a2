"""Ask the upstream whether it knows a statistic before anything subscribes to it.

One read per statistic, without a subscription (``GET /statistic-values/{name}``, the
Statistics API's single-value form of get-statistic-ex): the upstream answers with a
value, or refuses with its own message ("unknown statistic name 'CallsAnswerd'"). The
web process asks with the bridge's credentials (settings ``GENESYS``). Every check is
bounded by a deadline: an upstream that cannot be reached, or answers too slowly, gives
an "unchecked" verdict with the reason, never a hang.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.errors import StatisticsApiError, UpstreamError
from statsbridge.upstream.http import create_session
from statsbridge.upstream.statistics import StatisticsClient

logger = logging.getLogger(__name__)

DEADLINE_SECONDS = 6.0
KNOWN = "known"
REFUSED = "refused"
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Verdict:
    """What the upstream said about one statistic: known, refused (its message) or unchecked (why)."""

    object_type: str
    object_id: str
    name: str
    status: str
    message: str = ""
    value: object = None  # the upstream's current value when known (the editor's preview)

    @property
    def refused(self) -> bool:
        """True when the upstream refused the statistic."""
        return self.status == REFUSED


async def _check_one(client: StatisticsClient, object_type: str, object_id: str, name: str) -> Verdict:
    try:
        result = await client.get_statistic_value(name, object_id, object_type)
    except StatisticsApiError as error:
        if error.http_status in (400, 404) or (error.code is not None and 400 <= error.code < 500):
            return Verdict(object_type, object_id, name, REFUSED, error.message)
        return Verdict(object_type, object_id, name, UNCHECKED, f"the upstream answered with an error: {error.message}")
    except UpstreamError as error:
        return Verdict(object_type, object_id, name, UNCHECKED, f"the upstream could not be reached ({error})")
    if result.errors:
        return Verdict(object_type, object_id, name, REFUSED, result.errors[0].message)
    statistic = result.data.get("statistic")
    value = statistic.get("value") if isinstance(statistic, dict) else None
    return Verdict(object_type, object_id, name, KNOWN, value=value)


async def _check_all(items: Sequence[tuple[str, str, str]], genesys: dict) -> list[Verdict]:
    session = create_session(genesys["API_KEY"], connect_timeout=DEADLINE_SECONDS / 2)
    try:
        tokens = TokenProvider(session, Credentials.from_settings(genesys), request_timeout=DEADLINE_SECONDS)
        client = StatisticsClient(session, genesys["API_URL"], tokens, attempts=1, request_timeout=DEADLINE_SECONDS)
        return list(await asyncio.gather(*(_check_one(client, *item) for item in items)))
    finally:
        await session.close()


def check_statistics(items: Sequence[tuple[str, str, str]], *, deadline: float = DEADLINE_SECONDS,
                     genesys: dict | None = None) -> list[Verdict]:
    """Check ``(object_type, object_id, name)`` items against the upstream, in order.

    Runs its own event loop (callers are synchronous views and forms); past ``deadline``
    seconds every item not yet answered is "unchecked".
    """
    items = [tuple(item) for item in items]
    if not items:
        return []
    genesys = genesys or settings.GENESYS

    async def bounded():
        return await asyncio.wait_for(_check_all(items, genesys), deadline)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        reason = f"the upstream did not answer within {deadline:g} s"
    except (UpstreamError, OSError) as error:
        reason = f"the upstream could not be reached ({error})"
    logger.warning("statistic check: %s", reason)
    return [Verdict(*item, UNCHECKED, reason) for item in items]
