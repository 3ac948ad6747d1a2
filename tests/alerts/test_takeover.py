"""A takeover between two runbridges on Redis and PostgreSQL: a rule that keeps firing
through it notifies its webhook exactly once."""

import asyncio
import os
import signal
import subprocess

import pytest

from statsbridge.simulator import start_simulator
from tests.alerts.receiver import Receiver
from tests.bridge.test_scaleout import PYTHON, ROOT, Deployment
from tests.fixtures_simulator import fast_config
from tests.live import eventually

pytestmark = pytest.mark.scaleout

SECRET = "takeover-secret-0123456789"

ADD_RULE = """
import django, sys
django.setup()
from alerts.models import Rule, Target
from dashboard.models import Dashboard
from statsbridge.models import Statistic
name, url, secret, key = sys.argv[1:5]
target, _ = Target.objects.get_or_create(name="hook", kind="webhook", url=url, secret=secret)
rule = Rule.objects.create(name=name, severity="critical", kind="threshold",
                           statistic=Statistic.objects.get(key=key), direction="above", value=-1)
rule.dashboards.add(Dashboard.objects.get(slug="floor"))
rule.targets.add(target)
"""

COUNT_FIRINGS = """
import django, sys
django.setup()
from alerts.models import Delivery
print(Delivery.objects.filter(alert__rule__name=sys.argv[1], event="firing").count())
"""


def run_script(deployment, script: str, *args: str) -> str:
    done = subprocess.run([PYTHON, "-c", script, *args], cwd=ROOT, env=deployment.env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


async def test_a_takeover_notifies_a_firing_rule_exactly_once():
    simulator = await start_simulator(fast_config(tick_seconds=0.3, session_expiry_seconds=30.0))
    receiver = await Receiver(SECRET).start()
    deployment = Deployment(simulator)
    try:
        seeded = await asyncio.to_thread(deployment.create, simulator.tenant.model.objects())
        waiting_calls = seeded["keys"][0]
        await asyncio.to_thread(run_script, deployment, ADD_RULE, "always", receiver.url, SECRET, waiting_calls)
        first = deployment.start("bridge0", "runbridge")
        await eventually(lambda: deployment.lease_holder_pid() == first.pid, 20, "first bridge holds the lease")
        second = deployment.start("bridge1", "runbridge")
        await eventually(lambda: receiver.states() == ["firing"], 30, "the rule fired")
        assert receiver.signed == [True]
        assert receiver.received[0]["rule"] == "always"

        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        await eventually(lambda: deployment.lease_holder_pid() == second.pid, 10, "the standby took over")
        # A rule added now fires from the new bridge, which judges every rule in the same
        # round: once its notification is in, "always" has been judged by the new bridge too.
        await asyncio.to_thread(run_script, deployment, ADD_RULE, "barrier", receiver.url, SECRET, waiting_calls)
        await eventually(lambda: "barrier" in [r["rule"] for r in receiver.received], 30, "the new bridge judged the rules")
        firings = await asyncio.to_thread(run_script, deployment, COUNT_FIRINGS, "always")
        assert firings == "1"
        assert [r["rule"] for r in receiver.received] == ["always", "barrier"]
        assert all(receiver.signed)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 20) == 0
    finally:
        await asyncio.to_thread(deployment.destroy)
        await receiver.stop()
        await simulator.stop()
