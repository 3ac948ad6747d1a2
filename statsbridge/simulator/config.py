"""Configuration of the simulated Genesys tenant.

The defaults are the demo tenant's: they match the embedded defaults of
``settings.GENESYS`` so that a fresh clone talks to the simulator out of the box.
"""

from dataclasses import dataclass, field

NOTIFICATION_NESTINGS = ("nested", "flat")
NOTIFICATION_DIALECTS = ("reference", "messageType")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything the simulator needs to know; secrets stay out of ``repr``."""

    host: str = "127.0.0.1"
    port: int = 8090
    api_key: str = field(default="demo-api-key", repr=False)
    client_id: str = "demo-client"
    client_secret: str = field(default="demo-secret", repr=False)
    username: str = "demo\\supervisor"
    password: str = field(default="demo-password", repr=False)
    control_key: str = field(default="demo-control-key", repr=False)
    token_ttl: int = 3600
    seed: int = 42
    agents: int = 24
    queues: int = 4
    # Bayeux: how long a held /meta/connect waits (advice.timeout), and how long a
    # session survives without polling before it is expired with its subscriptions.
    connect_timeout_ms: int = 25_000
    session_expiry_seconds: float = 60.0
    # Messages a session may have queued; the oldest are dropped beyond this.
    max_queue_per_session: int = 10_000
    # Model time advanced (and statistics evaluated) every tick.
    tick_seconds: float = 0.5
    # Where StatisticUpdate / ServiceStateChange payloads sit inside the Bayeux
    # message's data: "nested" = data.data.statistics, "flat" = data.statistics.
    notification_nesting: str = "nested"
    # "reference": {"name", "topic", "data"} as the reference's samples; "messageType": the
    # simulator's former {"messageType", ...} form, to prove clients accept both.
    notification_dialect: str = "reference"

    def __post_init__(self) -> None:
        if self.notification_nesting not in NOTIFICATION_NESTINGS:
            raise ValueError(f"notification_nesting must be one of {NOTIFICATION_NESTINGS}")
        if self.notification_dialect not in NOTIFICATION_DIALECTS:
            raise ValueError(f"notification_dialect must be one of {NOTIFICATION_DIALECTS}")
        if self.agents < 1 or self.queues < 1:
            raise ValueError("agents and queues must be at least 1")
        if self.tick_seconds <= 0 or self.connect_timeout_ms < 0 or self.session_expiry_seconds <= 0:
            raise ValueError("tick_seconds and session_expiry_seconds must be positive")
        if self.token_ttl < 1 or self.max_queue_per_session < 1:
            raise ValueError("token_ttl and max_queue_per_session must be at least 1")
