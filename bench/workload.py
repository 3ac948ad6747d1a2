"""Pure helpers that shape a benchmark's workload: which statistics, on which dashboards."""

# Agent statistics that change only on real events (not every model tick), so the
# load the benchmark offers through the simulator's control API dominates.
AGENT_STATISTICS = ("CurrentAgentState", "AgentCallsHandled", "AverageHandlingTime")


def agents_for(count: int) -> int:
    """Agents the simulated tenant needs to offer ``count`` distinct agent statistics."""
    return max(1, -(-count // len(AGENT_STATISTICS)))


def plan_statistics(agent_ids: list, count: int) -> list:
    """``count`` distinct ``(object_type, object_id, name)`` over ``agent_ids``, agent-major."""
    needed = agents_for(count)
    if len(agent_ids) < needed:
        raise ValueError(f"{count} statistics need {needed} agents; the tenant has {len(agent_ids)}")
    planned = [("Agent", agent, name) for agent in agent_ids[:needed] for name in AGENT_STATISTICS]
    return planned[:count]


def split(items: list, parts: int) -> list:
    """``items`` in ``parts`` contiguous, nearly equal slices (none empty while items last)."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    slices, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        slices.append(items[start:end])
        start = end
    return slices


def spread_clients(dashboards: list, clients: int) -> list:
    """Which dashboard each of ``clients`` connects to, round-robin."""
    return [dashboards[i % len(dashboards)] for i in range(clients)]
