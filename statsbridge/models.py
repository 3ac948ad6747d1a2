"""What the bridge subscribes to upstream, and what it has recorded."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import models

from statsbridge.definitions import validate_definition

# Stat Server object types the Statistics API accepts.
OBJECT_TYPES = (
    "Agent", "AgentPlace", "GroupAgents", "GroupPlaces", "Queue", "RoutePoint", "GroupQueues",
    "Tenant", "Campaign", "CampaignGroup", "CampaignCallingList", "RegDN", "StagingArea",
)


def statistic_key(object_type: str, object_id: str, name: str, definition: dict | None) -> str:
    """Return the stable key of a statistic: its upstream ``statisticId`` and wire key.

    The key is derived from everything that is subscribed, so editing what a statistic
    means gives it a new key (and a new upstream subscription), while editing only its
    label keeps it.
    """
    identity = json.dumps([object_type, object_id, name or "", definition or None], sort_keys=True)
    return "s" + hashlib.sha256(identity.encode()).hexdigest()[:20]


class Statistic(models.Model):
    """One statistic of one object: a pre-configured name or a custom definition."""

    object_type = models.CharField(max_length=64, help_text="Stat Server object type, e.g. Agent, GroupAgents, Queue.")
    object_id = models.CharField(max_length=255, help_text="The object's id in the tenant.")
    name = models.CharField(
        max_length=128, blank=True, help_text="A pre-configured statistic name. Leave empty to use a custom definition."
    )
    definition = models.JSONField(
        null=True, blank=True, help_text="A custom Stat Server definition (used when no name is given)."
    )
    label = models.CharField(max_length=200, blank=True, help_text="How people see this statistic.")
    key = models.CharField(max_length=32, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["object_type", "object_id", "name"]

    def __str__(self) -> str:
        what = self.name or "custom"
        return self.label or f"{what} of {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        self.key = statistic_key(self.object_type, self.object_id, self.name, self.definition)
        super().save(*args, **kwargs)

    def clean(self):
        """Exactly one of name and definition; a definition must be one Stat Server accepts."""
        if bool(self.name) == bool(self.definition):
            raise ValidationError("Give either a pre-configured statistic name or a custom definition, not both.")
        if self.definition:
            validate_definition(self.definition)


class StatisticSample(models.Model):
    """One recorded reading of a statistic: the rolling history behind trends and replays.

    Keyed by the statistic's ``key`` (not a foreign key) so that a reading keeps
    meaning what was subscribed when it was taken, and recording never waits on a
    statistic row being edited or deleted; old rows are pruned by retention.
    """

    key = models.CharField(max_length=32)
    at = models.DateTimeField(help_text="When the bridge published this reading.")
    value = models.FloatField(null=True, blank=True, help_text="The number, for charts; null when not numeric.")
    data = models.JSONField(help_text="The wire Value as browsers saw it.")

    class Meta:
        indexes = [models.Index(fields=["key", "at"], name="sample_key_at"), models.Index(fields=["at"], name="sample_at")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.at:%Y-%m-%d %H:%M:%S}: {self.data.get('text', '')}"
