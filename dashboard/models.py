"""Dashboards, their widgets, and wall displays."""

import hashlib
import hmac
import logging
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from dashboard import names
from statsbridge.models import OBJECT_TYPES

log = logging.getLogger(__name__)

# A wall's text scale: walls size their text from the screen's height; this multiplies it
# for screens seen from unusually near or far (below half, a wall's text is no longer
# readable across a room; above twice, the widgets no longer hold it).
MIN_TEXT_SCALE = 0.5
MAX_TEXT_SCALE = 2.0


def validate_time_zone(value: str) -> None:
    """Reject names that are not IANA time zones."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/London).") from None


class Dashboard(models.Model):
    """A page of widgets, viewable by its owner, its groups, and staff."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    columns = models.PositiveSmallIntegerField(default=12, help_text="Layout grid columns.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    groups = models.ManyToManyField("auth.Group", blank=True, help_text="Groups whose members may view it.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        # Editors build dashboards in the product's own pages (dashboard.editing), without being staff.
        permissions = [("edit_dashboards", "Can edit dashboards in the editor")]

    def __str__(self) -> str:
        return self.title

    def can_view(self, user) -> bool:
        """Staff, the owner and members of its groups may view it."""
        if not user.is_authenticated or not user.is_active:
            return False
        if user.is_staff or (self.owner_id is not None and self.owner_id == user.pk):
            return True
        return self.groups.filter(pk__in=user.groups.values("pk")).exists()


class Widget(models.Model):
    """One figure on a dashboard, showing one or more statistics."""

    KPI = "kpi"
    GAUGE = "gauge"
    BAR = "bar"
    LINE = "line"
    DONUT = "donut"
    AGENT_GRID = "agent_grid"
    QUEUE_TABLE = "queue_table"
    TYPES = [
        (KPI, "KPI tile"),
        (GAUGE, "Gauge"),
        (BAR, "Bar chart"),
        (LINE, "Line chart"),
        (DONUT, "Donut"),
        (AGENT_GRID, "Agent grid"),
        (QUEUE_TABLE, "Queue table"),
    ]
    FORMATS = [("auto", "Automatic"), ("number", "Number"), ("duration", "Duration"), ("percent", "Percentage")]
    HIGH_IS_BAD = "above"
    LOW_IS_BAD = "below"
    DIRECTIONS = [(HIGH_IS_BAD, "Higher is worse"), (LOW_IS_BAD, "Lower is worse")]

    dashboard = models.ForeignKey(Dashboard, related_name="widgets", on_delete=models.CASCADE)
    type = models.CharField(max_length=20, choices=TYPES)
    label = models.CharField(max_length=200)
    statistics = models.ManyToManyField(
        "statsbridge.Statistic", through="WidgetStatistic", related_name="widgets", blank=True
    )
    x = models.PositiveSmallIntegerField(default=0)
    y = models.PositiveSmallIntegerField(default=0)
    w = models.PositiveSmallIntegerField(default=3)
    h = models.PositiveSmallIntegerField(default=2)
    wall_layout = models.JSONField(
        null=True, blank=True,
        help_text='Its place on walls, {"x", "y", "w", "h"} (set in the dashboard editor); empty: the same as on desks.',
    )
    unit = models.CharField(max_length=20, blank=True)
    format = models.CharField(max_length=10, choices=FORMATS, default="auto")
    warning = models.FloatField(null=True, blank=True)
    critical = models.FloatField(null=True, blank=True)
    direction = models.CharField(max_length=5, choices=DIRECTIONS, default=HIGH_IS_BAD)
    hysteresis = models.FloatField(
        default=0.0, help_text="How far back past a threshold a value must move before the colour clears."
    )
    history_minutes = models.PositiveIntegerField(default=30, help_text="Window of line charts and sparklines.")
    interval = models.CharField(
        max_length=60,
        blank=True,
        help_text='The time profile shown on the tile, e.g. "since 00:00" or "sliding 30 min". '
        "Leave empty to derive it from the statistics' definitions.",
    )
    drilldown = models.ForeignKey(
        Dashboard,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drilldown_widgets",
        help_text='The dashboard that opens when a tile is clicked, e.g. "Sales logged in" opens "Sales agents". '
        "Its own viewers rule who may open it.",
    )

    class Meta:
        ordering = ["dashboard", "y", "x"]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_type_display()})"

    def clean(self):
        """Thresholds must be in the order their direction implies; a drill-down leads elsewhere."""
        if self.drilldown_id is not None and self.drilldown_id == self.dashboard_id:
            raise ValidationError({"drilldown": "A widget cannot drill down to its own dashboard; pick another one."})
        if self.hysteresis < 0:
            raise ValidationError({"hysteresis": "Hysteresis cannot be negative."})
        if self.wall_layout is not None and not is_grid_place(self.wall_layout):
            raise ValidationError({"wall_layout": 'A wall place is {"x", "y", "w", "h"} in whole grid cells '
                                                  "(x and y from 0, w and h from 1), or empty."})
        if self.warning is None or self.critical is None:
            return
        if self.direction == self.HIGH_IS_BAD and not self.warning < self.critical:
            raise ValidationError("When higher is worse, the warning level must be below the critical level.")
        if self.direction == self.LOW_IS_BAD and not self.warning > self.critical:
            raise ValidationError("When lower is worse, the warning level must be above the critical level.")


def is_grid_place(place) -> bool:
    """Whether ``place`` is a widget's place on a grid: exactly x, y, w, h, whole cells, not empty."""
    if not isinstance(place, dict) or set(place) != {"x", "y", "w", "h"}:
        return False
    if not all(isinstance(place[k], int) and not isinstance(place[k], bool) for k in place):
        return False
    return place["x"] >= 0 and place["y"] >= 0 and place["w"] >= 1 and place["h"] >= 1


class WidgetStatistic(models.Model):
    """A statistic shown by a widget, in order (bars, rows, series)."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE)
    statistic = models.ForeignKey("statsbridge.Statistic", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(default=0)
    # A statistic's own thresholds, where one widget shows different measures (a queue
    # table's columns: calls waiting, longest wait, service level). Empty: the widget's.
    warning = models.FloatField(null=True, blank=True, help_text="Empty: the widget's warning level.")
    critical = models.FloatField(null=True, blank=True, help_text="Empty: the widget's critical level.")
    direction = models.CharField(max_length=5, choices=Widget.DIRECTIONS, blank=True,
                                 help_text="Empty: the widget's direction.")
    hysteresis = models.FloatField(null=True, blank=True, help_text="Empty: the widget's hysteresis.")

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["widget", "statistic"], name="unique_widget_statistic")]

    def __str__(self) -> str:
        # Ids, not names: the admin shows one of these per inline row, and a name would cost a query each.
        return f"statistic {self.statistic_id} at position {self.position} of widget {self.widget_id}"

    def has_own_thresholds(self) -> bool:
        """True when any threshold is set on this statistic rather than taken from the widget."""
        return self.warning is not None or self.critical is not None or bool(self.direction) or self.hysteresis is not None

    def limits(self, widget: Widget | None = None) -> dict:
        """The thresholds this statistic is judged by: its own where set, else its widget's."""
        widget = widget or self.widget
        own = self.has_own_thresholds()
        return {
            # Own levels replace the widget's pair: a column with only a critical level has no warning.
            "warning": self.warning if own and (self.warning is not None or self.critical is not None) else widget.warning,
            "critical": self.critical if own and (self.warning is not None or self.critical is not None) else widget.critical,
            "direction": self.direction or widget.direction,
            "hysteresis": self.hysteresis if self.hysteresis is not None else widget.hysteresis,
        }

    def clean(self):
        """The resolved thresholds must be in the order their direction implies, like a widget's."""
        if self.hysteresis is not None and self.hysteresis < 0:
            raise ValidationError({"hysteresis": "Hysteresis cannot be negative."})
        try:
            widget = self.widget  # may be unsaved (an import checks before saving anything)
        except Widget.DoesNotExist:
            return
        limits = self.limits(widget)
        warning, critical = limits["warning"], limits["critical"]
        if warning is None or critical is None:
            return
        if limits["direction"] == Widget.HIGH_IS_BAD and not warning < critical:
            raise ValidationError("When higher is worse, the warning level must be below the critical level.")
        if limits["direction"] == Widget.LOW_IS_BAD and not warning > critical:
            raise ValidationError("When lower is worse, the warning level must be above the critical level.")


def hash_token(token: str) -> str:
    """Return the stored form of a wall token: only its hash is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class Display(models.Model):
    """A wall TV: opened by a secret URL, rotating through a playlist of dashboards."""

    NIGHT_MODES = [("dim", "Dimmed"), ("off", "Blank screen")]

    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    revoked = models.BooleanField(default=False)
    dashboards = models.ManyToManyField(Dashboard, through="DisplayItem", related_name="displays")
    seconds_per_dashboard = models.PositiveIntegerField(default=30)
    night_start = models.TimeField(null=True, blank=True)
    night_end = models.TimeField(null=True, blank=True)
    night_mode = models.CharField(max_length=3, choices=NIGHT_MODES, default="dim")
    reload_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, default=4, help_text="Local hour of a daily soft reload (a quiet hour)."
    )
    text_scale = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(MIN_TEXT_SCALE), MaxValueValidator(MAX_TEXT_SCALE)],
        help_text="Multiplies every text size on this wall (1 = sized for a TV read from a few metres; "
        "e.g. 1.3 for a far or small screen, 0.8 for a near or very large one). "
        f"{MIN_TEXT_SCALE} to {MAX_TEXT_SCALE}.",
    )
    # Telemetry reported by the wall page.
    last_seen = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    page_version = models.CharField(max_length=40, blank=True)
    memory_mb = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        """Reject half a night schedule and out-of-range hours."""
        if (self.night_start is None) != (self.night_end is None):
            raise ValidationError("Give both the start and the end of the night schedule, or neither.")
        if self.reload_hour is not None and self.reload_hour > 23:
            raise ValidationError({"reload_hour": "An hour of the day is 0 to 23."})
        if self.seconds_per_dashboard < 5:
            raise ValidationError({"seconds_per_dashboard": "Show each dashboard for at least 5 seconds."})

    def issue_token(self) -> str:
        """Give the display a new secret token and return it; only its hash is stored.

        The old token stops working at once. Call ``save()`` afterwards.
        """
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.revoked = False
        return token

    @classmethod
    def for_token(cls, token: str) -> "Display | None":
        """Return the live display this token opens, or None."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        display = cls.objects.filter(token_hash=digest, revoked=False).first()
        # The lookup is by hash; the compare is constant-time anyway.
        if display is None or not hmac.compare_digest(display.token_hash, digest):
            return None
        return display


class DisplayItem(models.Model):
    """A dashboard in a display's playlist."""

    display = models.ForeignKey(Display, on_delete=models.CASCADE)
    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        # Ids, not names: the admin shows one of these per inline row, and a name would cost a query each.
        return f"dashboard {self.dashboard_id} at position {self.position} of display {self.display_id}"


class DisplayName(models.Model):
    """What people call a queue, agent group, agent or statistic name ("VQ_Sales@SIP_Switch" → "Sales").

    Object type ``Statistic`` names a statistic name ("CallsWaiting" → "Waiting"). Where
    no display name exists, pages show the id itself.
    """

    object_type = models.CharField(
        max_length=64, help_text='The object type (Queue, GroupAgents, Agent, ...), or "Statistic" for a statistic name.'
    )
    object_id = models.CharField(
        max_length=names.MAX_ID_LENGTH, help_text="The id in the tenant (or the statistic name, e.g. CallsWaiting)."
    )
    display_name = models.CharField(max_length=names.MAX_NAME_LENGTH, help_text="What people read on every page.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["object_type", "object_id"]
        constraints = [models.UniqueConstraint(fields=["object_type", "object_id"], name="unique_display_name")]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} → {self.display_name}"

    def clean(self):
        """The same checks as a CSV row: a known type, an id, a printable name of sane length."""
        self.object_type, self.object_id = self.object_type.strip(), self.object_id.strip()
        self.display_name = self.display_name.strip()
        problems = names.row_problems(self.object_type, self.object_id, self.display_name, OBJECT_TYPES)
        if problems:
            raise ValidationError("; ".join(p[:1].upper() + p[1:] for p in problems) + ".")

    @classmethod
    def names_for(cls, statistics) -> names.Names:
        """The display names of these statistics' objects and statistic names (one query)."""
        statistics = list(statistics)
        wanted = {(s.object_type, s.object_id) for s in statistics} | {(names.STATISTIC, s.name) for s in statistics if s.name}
        if not wanted:
            return names.Names()
        rows = cls.objects.filter(
            object_type__in={t for t, _ in wanted}, object_id__in={i for _, i in wanted}
        ).values_list("object_type", "object_id", "display_name")
        return names.Names({(t, i): n for t, i, n in rows if (t, i) in wanted})

    @classmethod
    def label_of(cls, statistic) -> str:
        """One statistic's label as pages show it (its own, else from display names)."""
        return cls.names_for([statistic]).label(statistic.label, statistic.object_type, statistic.object_id, statistic.name)

    @classmethod
    def import_csv(cls, text: str) -> dict:
        """Check a whole CSV of display names and save it, or save nothing and raise
        ``names.CsvProblems`` (logged once) listing every bad line."""
        try:
            rows = names.parse_display_names(text, OBJECT_TYPES)
        except names.CsvProblems as error:
            log.warning("display-name import refused: %d problem(s), first: %s", len(error.problems), error.problems[0])
            raise
        return cls.save_rows(rows)

    @classmethod
    @transaction.atomic
    def save_rows(cls, rows: list) -> dict:
        """Save parsed CSV rows (``names.NameRow``): new ids are added, known ones renamed.
        Returns how many were added, renamed and already so."""
        existing = {(d.object_type, d.object_id): d for d in cls.objects.select_for_update().filter(
            object_id__in={r.object_id for r in rows})}
        counts = {"added": 0, "renamed": 0, "unchanged": 0}
        added, renamed = [], []
        for row in rows:
            current = existing.get((row.object_type, row.object_id))
            if current is None:
                added.append(cls(object_type=row.object_type, object_id=row.object_id, display_name=row.display_name))
            elif current.display_name != row.display_name:
                current.display_name = row.display_name
                current.updated = timezone.now()  # bulk_update does not touch auto_now fields
                renamed.append(current)
            else:
                counts["unchanged"] += 1
        cls.objects.bulk_create(added, batch_size=500)
        if renamed:
            cls.objects.bulk_update(renamed, ["display_name", "updated"], batch_size=500)
        counts["added"], counts["renamed"] = len(added), len(renamed)
        return counts


class GenesysAccessRule(models.Model):
    """One line of the mapping from what the tenant's ``/userinfo`` says about a user signing
    in through Genesys to the groups (and so dashboards) and permissions they get here.
    Applied at every sign-in, and to every such user when the mapping changes."""

    KIND_CHOICES = [
        ("user", "User name (username, loginName or cmeUserName)"),
        ("authority", "Authority (role name, e.g. ROLE_SUPERVISOR)"),
        ("privilege", "Privilege of any authority"),
    ]

    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    value = models.CharField(max_length=200, help_text="Matched exactly, ignoring upper and lower case.")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="genesys_rules",
                                    help_text="Groups given to users this rule matches (their dashboards follow).")
    permissions = models.ManyToManyField("auth.Permission", blank=True, related_name="genesys_rules",
                                         help_text="Permissions given to users this rule matches.")

    class Meta:
        ordering = ["kind", "value"]
        unique_together = [("kind", "value")]
        verbose_name = "Genesys sign-in rule"

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]} = {self.value}"


class GenesysIdentity(models.Model):
    """A local user who signs in through Genesys, and what ``/userinfo`` last said about them
    (names and roles only: never a token)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="genesys_identity")
    subject = models.CharField(max_length=150, unique=True, help_text="The tenant's system-wide unique user name.")
    claims = models.JSONField(default=dict)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Genesys identity"
        verbose_name_plural = "Genesys identities"

    def __str__(self) -> str:
        return self.subject
