"""The faults of the matrix: how each is injected and cleared, where it applies, and
how many times CI runs it (long mode runs each ``--fault-repeats`` times).

``outage`` says whether values cannot reach the pages while the fault lasts (then every
tile must turn STALE within 2 s, and the fault is cleared once they all are, or after
``--fault-cut-seconds`` for the network cut); other faults are cleared at once.
Recovery has two bounds: ``reconnect_bound`` from clearing the fault until the upstream
holds exactly the configured statistics again, and ``tiles_bound`` from then until
every tile is fresh and equal to the simulator's truth.
"""

from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.stack import Stack

# The CometD client backs off up to 30 s between attempts while the upstream is
# unreachable (statsbridge.upstream.backoff.Backoff(cap=30) in BayeuxClient, documented in
# docs/upstream.md): after a long outage the next attempt can be that far away.
CLIENT_BACKOFF_CAP = 30.0
# "Every tile equal to the simulator's truth within 2 s", plus one sampling period.
TILES_BOUND = 2.5
# "STALE within 2 s of the upstream being lost" (issue 5).
STALE_DEADLINE = 2.0
# After an outage the client waits at most one capped backoff, then re-handshakes at
# once (test_reconnect_after_outage.py).
OUTAGE_RECONNECT_BOUND = CLIENT_BACKOFF_CAP + 2
# A standby bridge takes over within 5 s (docs/bridge.md); the browser reconnects with
# a backoff capped at 8 s (static/dashboard).
TAKEOVER = 5.0
BROWSER_BACKOFF_CAP = 8.0


@dataclass(frozen=True)
class Fault:
    """One row of the matrix."""

    name: str
    slug: str
    ci_repeats: int
    outage: bool
    inject: Callable[[Stack], None]
    clear: Callable[[Stack], None]
    reconnect_bound: float  # clearing → upstream holds exactly the configured statistics again
    tiles_bound: float = TILES_BOUND  # then → every tile fresh and equal to the truth
    modes: tuple[str, ...] = ("embedded", "runbridge")
    stale_deadline: float = STALE_DEADLINE  # an outage fault: every tile STALE within this
    held_for_cut: bool = False  # held for --fault-cut-seconds (else cleared once every tile is STALE, or at once)


def _service_down(stack: Stack) -> None:
    stack.simulator.call("POST", "/simulator/service", {"state": "UNAVAILABLE"})


def _service_up(stack: Stack) -> None:
    stack.simulator.call("POST", "/simulator/service", {"state": "AVAILABLE"})


def _forget(stack: Stack) -> None:
    stack.simulator.call("POST", "/simulator/forget-clients")


def _revoke(stack: Stack) -> None:
    stack.simulator.call("POST", "/simulator/revoke-tokens", {"refresh": True})


def _rest_burst(stack: Stack) -> None:
    # Arm a burst of gateway errors, then make the bridge call REST (it re-creates its
    # subscriptions after the forced re-handshake) straight into them.
    stack.simulator.call("POST", "/simulator/fail", {"status": 503, "count": 2, "scope": "statistics"})
    stack.simulator.call("POST", "/simulator/fail", {"status": 504, "count": 2, "scope": "statistics"})
    _forget(stack)


def _kill_bridge(stack: Stack) -> None:
    holder = stack.lease_holder()
    assert holder is not None, "no runbridge holds the lease"
    holder.kill()


def _restart_dead_bridges(stack: Stack) -> None:
    for bridge in stack.bridges:
        if not bridge.alive:
            bridge.start()


def _restart_redis(stack: Stack) -> None:
    stack.redis.kill()
    stack.redis.start()


def _nothing(stack: Stack) -> None:
    return None


FAULTS = [
    Fault("service UNAVAILABLE → AVAILABLE", "service", 3, True, _service_down, _service_up, 3.0),
    Fault("forget-clients (402 → re-handshake)", "forget-clients", 3, False, _forget, _nothing, 5.0),
    Fault("simulator killed and restarted", "simulator-restart", 3, True, lambda s: s.simulator.kill(),
          lambda s: s.simulator.start(), CLIENT_BACKOFF_CAP + 2),
    Fault("network cut (drop + refuse)", "network-cut", 1, True, lambda s: s.proxy.cut(), lambda s: s.proxy.restore(),
          OUTAGE_RECONNECT_BOUND, held_for_cut=True),
    Fault("token revoked", "token-revoked", 3, False, _revoke, _nothing, 5.0),
    Fault("REST 503/504 burst", "rest-burst", 3, False, _rest_burst, _nothing, 8.0),
    Fault("bridge process killed (standby takes over)", "bridge-killed", 3, True, _kill_bridge, _restart_dead_bridges,
          TAKEOVER + 2, modes=("runbridge",)),
    # A Redis restart also ends every WebSocket (the consumers die on the channel-layer
    # error), so the pages come back through their own reconnect backoff, as after a web restart.
    Fault("Redis restarted", "redis-restart", 3, False, _restart_redis, _nothing, TAKEOVER + 2,
          tiles_bound=BROWSER_BACKOFF_CAP + 2, modes=("runbridge",)),
    Fault("web process restarted under a wall page", "web-restart", 3, True, lambda s: s.web.kill(),
          lambda s: s.web.start(), 20.0, tiles_bound=BROWSER_BACKOFF_CAP + 2),
]
