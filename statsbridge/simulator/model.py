"""A small contact centre driven by a seeded random process (no I/O).

Calls arrive at queues, wait, and are answered by a Ready agent of the queue's
group or abandoned when the caller's patience runs out. Agents move between
LoggedOut, NotReady (with a reason), Ready, Talking and AfterCallWork. Time is
model time in seconds, advanced by :meth:`ContactCentre.step`; the same seed and
the same steps always give the same state.
"""

import math
import random
from collections import deque
from dataclasses import dataclass, field

LOGGED_OUT = "LoggedOut"
NOT_READY = "NotReady"
READY = "Ready"
TALKING = "Talking"
AFTER_CALL_WORK = "AfterCallWork"
AGENT_STATES = (LOGGED_OUT, NOT_READY, READY, TALKING, AFTER_CALL_WORK)
NOT_READY_REASONS = ("Break", "Lunch", "Training", "Meeting", "Coaching")

GROUP_NAMES = ("Sales", "Support", "Billing", "Retention", "Claims", "Renewals", "Technical", "Loyalty")
SWITCH = "SIP_Switch"

# Object types as the Statistics API names them.
AGENT = "Agent"
GROUP_AGENTS = "GroupAgents"
QUEUE = "Queue"
OBJECT_TYPES = (AGENT, GROUP_AGENTS, QUEUE)

# Mean durations (seconds) of the random process; chosen so a demo is lively.
MEAN_TALK = 45.0
MEAN_AFTER_CALL_WORK = 10.0
MEAN_READY_BEFORE_BREAK = 300.0
MEAN_NOT_READY = 40.0
MEAN_LOGGED_OUT = 120.0
MEAN_PATIENCE = 45.0
LOGOUT_SHARE = 0.1
SERVICE_LEVEL_THRESHOLD = 20.0
# Offered load per queue relative to its group's capacity.
OFFERED_LOAD = 0.85


@dataclass
class Agent:
    """One agent, with the counters the catalogue reads."""

    agent_id: str
    login_id: str
    place_id: str
    group_id: str
    state: str = LOGGED_OUT
    reason: str | None = None
    state_since: float = 0.0
    next_change_at: float = math.inf
    ready_since: float = 0.0
    call_queue: str | None = None
    call_started: float = 0.0
    calls_handled: int = 0
    handle_time: float = 0.0
    time_in: dict = field(default_factory=dict)  # state -> seconds spent in it before the current stint

    def seconds_in(self, state: str, now: float) -> float:
        """Total seconds spent in ``state`` since the start, the current stint included."""
        current = now - self.state_since if self.state == state else 0.0
        return self.time_in.get(state, 0.0) + current


@dataclass
class Queue:
    """A virtual queue served by one agent group, with its interval counters."""

    queue_id: str
    group_id: str
    arrival_rate: float
    waiting: deque = field(default_factory=deque)  # (arrived_at, gives_up_at)
    entered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_threshold: int = 0
    answer_wait_total: float = 0.0
    completed: int = 0
    handle_time_total: float = 0.0


@dataclass
class Group:
    """An agent group and the queue it serves."""

    group_id: str
    queue_id: str
    agent_ids: list


class ContactCentre:
    """The whole tenant: agents, groups, queues and the process that moves them."""

    def __init__(self, seed: int, agents: int, queues: int, epoch: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.epoch = epoch  # wall-clock seconds that model time 0 stands for
        self.now = 0.0
        self.agents: dict[str, Agent] = {}
        self.groups: dict[str, Group] = {}
        self.queues: dict[str, Queue] = {}
        # Agents that entered a state since the last ``take_changed``: the only agents whose
        # event-driven statistics (state, calls handled, handling time) can have moved.
        self.changed: set[str] = set()
        width = max(3, len(str(agents)))
        for index in range(queues):
            base = GROUP_NAMES[index % len(GROUP_NAMES)]
            name = base if index < len(GROUP_NAMES) else f"{base}{index // len(GROUP_NAMES) + 1}"
            queue_id = f"VQ_{name}@{SWITCH}"
            self.groups[name] = Group(name, queue_id, [])
        group_ids = list(self.groups)
        for index in range(agents):
            number = str(index + 1).zfill(width)
            group_id = group_ids[index % len(group_ids)]
            agent = Agent(f"agent{number}", f"7{number}", f"Place_{number}", group_id)
            self.agents[agent.agent_id] = agent
            self.groups[group_id].agent_ids.append(agent.agent_id)
            self._start_shift(agent)
        for group in self.groups.values():
            capacity = len(group.agent_ids) / (MEAN_TALK + MEAN_AFTER_CALL_WORK)
            self.queues[group.queue_id] = Queue(group.queue_id, group.group_id, OFFERED_LOAD * capacity)

    def objects(self) -> dict[str, list[str]]:
        """Every object id by object type."""
        return {AGENT: list(self.agents), GROUP_AGENTS: list(self.groups), QUEUE: list(self.queues)}

    def has_object(self, object_type: str, object_id: str) -> bool:
        """Whether the tenant has that object."""
        table = {AGENT: self.agents, GROUP_AGENTS: self.groups, QUEUE: self.queues}.get(object_type)
        return table is not None and object_id in table

    def take_changed(self) -> set[str]:
        """The agents that changed state since the last call (and forget them)."""
        changed, self.changed = self.changed, set()
        return changed

    def step(self, dt: float) -> None:
        """Advance model time by ``dt`` seconds."""
        self.now += dt
        for queue in self.queues.values():
            for _ in range(self._poisson(queue.arrival_rate * dt)):
                queue.waiting.append((self.now, self.now + self.rng.expovariate(1 / MEAN_PATIENCE)))
                queue.entered += 1
            self._abandon(queue)
        for agent in self.agents.values():
            if agent.next_change_at <= self.now:
                self._timed_transition(agent)
        for queue in self.queues.values():
            self._route(queue)

    # -- the random process -------------------------------------------------

    def _start_shift(self, agent: Agent) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            self._enter(agent, LOGGED_OUT, self.rng.expovariate(1 / MEAN_LOGGED_OUT))
        elif roll < 0.35:
            self._enter(agent, NOT_READY, self.rng.expovariate(1 / MEAN_NOT_READY), self.rng.choice(NOT_READY_REASONS))
        else:
            self._enter_ready(agent)

    def _enter(self, agent: Agent, state: str, duration: float, reason: str | None = None) -> None:
        agent.time_in[agent.state] = agent.time_in.get(agent.state, 0.0) + (self.now - agent.state_since)
        self.changed.add(agent.agent_id)
        agent.state = state
        agent.reason = reason
        agent.state_since = self.now
        agent.next_change_at = self.now + duration

    def _enter_ready(self, agent: Agent) -> None:
        self._enter(agent, READY, self.rng.expovariate(1 / MEAN_READY_BEFORE_BREAK))
        agent.ready_since = self.now

    def _timed_transition(self, agent: Agent) -> None:
        if agent.state in (LOGGED_OUT, NOT_READY):
            self._enter_ready(agent)
        elif agent.state == READY:
            if self.rng.random() < LOGOUT_SHARE:
                self._enter(agent, LOGGED_OUT, self.rng.expovariate(1 / MEAN_LOGGED_OUT))
            else:
                reason = self.rng.choice(NOT_READY_REASONS)
                self._enter(agent, NOT_READY, self.rng.expovariate(1 / MEAN_NOT_READY), reason)
        elif agent.state == TALKING:
            self._enter(agent, AFTER_CALL_WORK, self.rng.expovariate(1 / MEAN_AFTER_CALL_WORK))
        elif agent.state == AFTER_CALL_WORK:
            handled = self.now - agent.call_started
            agent.calls_handled += 1
            agent.handle_time += handled
            queue = self.queues[agent.call_queue]
            queue.completed += 1
            queue.handle_time_total += handled
            agent.call_queue = None
            self._enter_ready(agent)

    def _abandon(self, queue: Queue) -> None:
        if not queue.waiting:
            return
        kept = deque(call for call in queue.waiting if call[1] > self.now)
        queue.abandoned += len(queue.waiting) - len(kept)
        queue.waiting = kept

    def _route(self, queue: Queue) -> None:
        if not queue.waiting:
            return
        ready = [self.agents[a] for a in self.groups[queue.group_id].agent_ids if self.agents[a].state == READY]
        ready.sort(key=lambda agent: agent.ready_since)
        for agent in ready:
            if not queue.waiting:
                break
            arrived, _ = queue.waiting.popleft()
            wait = self.now - arrived
            queue.answered += 1
            queue.answer_wait_total += wait
            if wait <= SERVICE_LEVEL_THRESHOLD:
                queue.answered_in_threshold += 1
            agent.call_queue = queue.queue_id
            agent.call_started = self.now
            self._enter(agent, TALKING, self.rng.expovariate(1 / MEAN_TALK))

    def _poisson(self, mean: float) -> int:
        # Knuth's method: fine for the small means a tick produces.
        limit, count, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count
