"""Admin for statistics: validation that explains itself, and where each one is used."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from statsbridge.models import OBJECT_TYPES, Statistic, StatisticSample, statistic_key
from statsbridge.probe import UNCHECKED, check_statistics


class StatisticForm(forms.ModelForm):
    """Checks the object and the name/definition before anything reaches the bridge."""

    class Meta:
        model = Statistic
        fields = ("label", "object_type", "object_id", "name", "definition")

    def clean_object_type(self):
        value = self.cleaned_data["object_type"].strip()
        if value not in OBJECT_TYPES:
            raise ValidationError(f"Unknown object type {value!r}: use one of {', '.join(OBJECT_TYPES)}.")
        return value

    def clean_object_id(self):
        value = self.cleaned_data["object_id"].strip()
        if not value:
            raise ValidationError("Give the object's id as configured in the tenant (e.g. an agent's employee id).")
        return value

    def clean(self):
        cleaned = super().clean()
        object_type, object_id = cleaned.get("object_type"), cleaned.get("object_id")
        if object_type and object_id:
            key = statistic_key(object_type, object_id, cleaned.get("name") or "", cleaned.get("definition"))
            twin = Statistic.objects.filter(key=key).exclude(pk=self.instance.pk).first()
            if twin is not None:
                raise ValidationError(f"The same statistic already exists as “{twin}”: use that one.")
            if cleaned.get("name") and key != self.instance.key:
                refuse_unknown(self, object_type, object_id, cleaned["name"])
        return cleaned


def refuse_unknown(form: forms.Form, object_type: str, object_id: str, name: str) -> None:
    """Add the upstream's refusal of a new statistic to the form's field it concerns.

    An upstream that cannot be reached refuses nothing: an admin decides (the bridge
    reports a refusal later, on the widget and on /ops/).
    """
    verdict = check_statistics([(object_type, object_id, name)])[0]
    form.upstream_verdict = verdict  # the admin says, after saving, when it could not check
    if verdict.refused:
        field = "object_id" if "objectid" in verdict.message.lower() else "name"
        form.add_error(field, f"The upstream refused it: {verdict.message}")


@admin.register(Statistic)
class StatisticAdmin(admin.ModelAdmin):
    form = StatisticForm

    def save_model(self, request, obj, form, change):
        """Save; when the upstream could not be asked about it, say so (the admin decided)."""
        super().save_model(request, obj, form, change)
        verdict = getattr(form, "upstream_verdict", None)
        if verdict is not None and verdict.status == UNCHECKED:
            self.message_user(request, f"Saved without the upstream's check: {verdict.message}. If the upstream "
                                       "refuses it later, its widgets and /ops/ say why.", level=messages.WARNING)
    list_display = ("__str__", "object_type", "object_id", "name", "key", "used_by")
    list_filter = ("object_type", "name")
    search_fields = ("label", "object_id", "name", "key")
    readonly_fields = ("key",)

    @admin.display(description="Used by widgets")
    def used_by(self, obj):
        return obj.widgets.count()


@admin.register(StatisticSample)
class StatisticSampleAdmin(admin.ModelAdmin):
    """Recorded history, read-only: the bridge writes it."""

    list_display = ("key", "at", "value")
    list_filter = ("at",)
    search_fields = ("key",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
