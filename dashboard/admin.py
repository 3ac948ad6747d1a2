"""Admin for dashboards, widgets and wall displays: cost preview, tokens, fleet console."""

import csv
import datetime as dt
import io
import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from dashboard import boards, names
from dashboard.cost import cost_preview
from dashboard.models import (
    Dashboard,
    Display,
    DisplayItem,
    DisplayName,
    GenesysAccessRule,
    GenesysIdentity,
    Widget,
    WidgetStatistic,
)
from dashboard.transfer import (
    DashboardImportError,
    UnreadableFile,
    export_dashboards,
    import_dashboards,
    incoming_links,
    read_document,
)
from dashboard.validation import Box, layout_problems
from statsbridge import control
from statsbridge.models import OBJECT_TYPES, Statistic

ONLINE_WITHIN = dt.timedelta(seconds=60)


class WidgetInline(admin.TabularInline):
    model = Widget
    fk_name = "dashboard"  # a widget's other link to a dashboard is its drill-down
    fields = ("label", "type", "x", "y", "w", "h")
    show_change_link = True
    extra = 0


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "owner", "time_zone", "widget_count")
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "slug")
    filter_horizontal = ("groups",)
    inlines = [WidgetInline]
    actions = ["export_json"]
    change_list_template = "admin/dashboard/dashboard/change_list.html"

    @admin.display(description="Widgets")
    def widget_count(self, obj):
        return obj.widgets.count()

    @admin.action(description="Export selected dashboards as JSON")
    def export_json(self, request, queryset):
        document = export_dashboards(queryset.order_by("slug"))
        response = HttpResponse(json.dumps(document, indent=2, sort_keys=True), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="dashboards.json"'
        return response

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_view), name="dashboard_dashboard_import")]
        return extra + super().get_urls()

    def import_view(self, request):
        """Upload an export; every problem is listed and nothing is saved unless all is valid."""
        if not self.has_add_permission(request):
            raise PermissionDenied("You may not add dashboards.")
        problems = []
        if request.method == "POST":
            upload = request.FILES.get("file")
            limit = settings.REQUEST_BODY_LIMITS["IMPORT"]
            try:
                if upload and upload.size > limit:
                    raise UnreadableFile(f"is larger than the import limit of {limit // (1024 * 1024)} MB "
                                         "(IMPORT_BODY_MAX_BYTES)")
                document = read_document(upload) if upload else None
            except UnreadableFile as error:
                problems = [f"The file {error}."]
            else:
                if document is None:
                    problems = ["Choose a file exported from this admin or by manage.py export_dashboards."]
                else:
                    replace = bool(request.POST.get("replace"))
                    try:
                        created = import_dashboards(document, replace=replace, owner=request.user)
                    except DashboardImportError as error:
                        problems = error.problems
                    else:
                        kept = f" {incoming_links(created)}" if replace else ""
                        slugs = ", ".join(d.slug for d in created)
                        self.message_user(request, f"Imported {len(created)} dashboard(s): {slugs}.{kept}")
                        return HttpResponseRedirect(reverse("admin:dashboard_dashboard_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Import dashboards", "problems": problems,
                   "opts": self.model._meta}
        return render(request, "admin/dashboard/dashboard/import.html", context, status=400 if problems else 200)


class StatisticChoiceField(forms.ModelChoiceField):
    """Statistics named as the pages name them ("Sales waiting"), from display names loaded once."""

    def label_from_instance(self, obj):
        if getattr(self, "_names", None) is None:
            self._names = DisplayName.names_for(self.queryset)
        return self._names.label(obj.label, obj.object_type, obj.object_id, obj.name)


class WidgetStatisticInline(admin.TabularInline):
    model = WidgetStatistic

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "statistic":
            kwargs["form_class"] = StatisticChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Own thresholds: for widgets whose statistics measure different things (a queue table's columns).
    fields = ("statistic", "position", "warning", "critical", "direction", "hysteresis")
    extra = 1


def _described(stat: Statistic, shown) -> dict:
    return {"key": stat.key, "object_type": stat.object_type, "object_id": stat.object_id, "name": stat.name,
            "label": shown.label(stat.label, stat.object_type, stat.object_id, stat.name)}


def preview_for(widget_id: int | None, statistic_ids: list[int]) -> dict:
    """The cost preview of a widget showing these statistics (others' statistics are reused)."""
    statistics = list(Statistic.objects.filter(pk__in=statistic_ids))
    shown = DisplayName.names_for(statistics)
    selected = [_described(s, shown) for s in statistics]
    others = WidgetStatistic.objects.all()
    if widget_id is not None:
        others = others.exclude(widget_id=widget_id)
    return cost_preview(selected, set(others.values_list("statistic__key", flat=True)))


class WidgetForm(forms.ModelForm):
    """A widget must fit its dashboard's grid and not overlap its other widgets (as in the editor)."""

    class Meta:
        model = Widget
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown

    def clean(self):
        cleaned = super().clean()
        dashboard = cleaned.get("dashboard")
        place = [cleaned.get(f) for f in ("x", "y", "w", "h")]
        if dashboard is None or None in place:
            return cleaned
        others = Widget.objects.filter(dashboard=dashboard).exclude(pk=self.instance.pk)
        box = Box(cleaned.get("label") or "this widget", *place)
        problems = layout_problems([box], dashboard.columns)
        problems += [layout_problems([box, other], dashboard.columns)[-1]
                     for other in (Box(o.label, o.x, o.y, o.w, o.h) for o in others) if box.overlaps(other)]
        for problem in problems:
            self.add_error(None, problem)
        return cleaned


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    form = WidgetForm
    list_display = ("label", "type", "dashboard", "x", "y", "w", "h", "warning", "critical")
    list_filter = ("type", "dashboard")
    search_fields = ("label",)
    inlines = [WidgetStatisticInline]
    change_form_template = "admin/dashboard/widget/change_form.html"
    fieldsets = (
        (None, {"fields": ("dashboard", "type", "label", "unit", "format", "interval", "drilldown")}),
        ("Position", {"fields": (("x", "y", "w", "h"),)}),
        ("Thresholds", {"fields": ("direction", "warning", "critical", "hysteresis"),
                        "description": "Warning and critical levels, and how far a value must move back past a "
                                       "level before its colour clears (stops flicker near the line)."}),
        ("History", {"fields": ("history_minutes",)}),
    )

    def get_urls(self):
        extra = [path("cost-preview/", self.admin_site.admin_view(self.cost_preview_view), name="dashboard_widget_cost")]
        return extra + super().get_urls()

    def cost_preview_view(self, request):
        """JSON cost preview for the statistics currently picked on the form (before saving)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return JsonResponse({"error": "you may not edit widgets"}, status=403)
        try:
            ids = [int(i) for i in request.GET.get("statistics", "").split(",") if i]
            widget_id = int(request.GET["widget"]) if request.GET.get("widget") else None
        except ValueError:
            return JsonResponse({"error": "statistics must be comma-separated ids"}, status=400)
        return JsonResponse(preview_for(widget_id, ids))


class DisplayItemInline(admin.TabularInline):
    model = DisplayItem
    fields = ("dashboard", "position")
    extra = 1


@admin.register(Display)
class DisplayAdmin(admin.ModelAdmin):
    list_display = ("name", "revoked", "seconds_per_dashboard", "last_seen", "page_version")
    readonly_fields = ("last_seen", "latency_ms", "page_version", "memory_mb")
    inlines = [DisplayItemInline]
    actions = ["issue_new_token", "revoke"]
    change_list_template = "admin/dashboard/display/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "seconds_per_dashboard", "text_scale")}),
        ("Night and maintenance", {"fields": (("night_start", "night_end", "night_mode"), "reload_hour")}),
        ("Telemetry (reported by the wall)", {"fields": ("last_seen", "latency_ms", "page_version", "memory_mb")}),
    )

    def _show_token(self, request, display, token):
        url = request.build_absolute_uri(reverse("wall", args=[token]))
        self.message_user(
            request, f"Wall link for “{display.name}” (shown once, copy it now): {url}", level=messages.WARNING
        )

    def save_model(self, request, obj, form, change):
        token = obj.issue_token() if not obj.token_hash else None
        super().save_model(request, obj, form, change)
        if token:
            self._show_token(request, obj, token)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            # Schedules and playlists are rendered into the wall page: open walls reload to pick them up.
            display_id = form.instance.pk
            transaction.on_commit(lambda: control.reload_display(display_id, "display settings changed"))

    @admin.action(description="Issue a new wall link (the old one stops working)")
    def issue_new_token(self, request, queryset):
        for display in queryset:
            token = display.issue_token()
            # Saving tells open walls (dashboard.signals) to re-check their token: old ones close.
            display.save(update_fields=["token_hash", "revoked"])
            self._show_token(request, display, token)

    @admin.action(description="Revoke the wall link (closes the wall now)")
    def revoke(self, request, queryset):
        for display in queryset:
            display.revoked = True
            display.save(update_fields=["revoked"])
        self.message_user(request, f"Revoked {queryset.count()} wall link(s); their screens were disconnected.")

    def get_urls(self):
        extra = [
            path("fleet/", self.admin_site.admin_view(self.fleet_view), name="dashboard_display_fleet"),
            path("<int:display_id>/reload/", self.admin_site.admin_view(require_POST(self.reload_view)),
                 name="dashboard_display_reload"),
        ]
        return extra + super().get_urls()

    def fleet_view(self, request):
        """Every display, online or not, with its last message, latency, version and memory."""
        if not self.has_view_permission(request):
            raise PermissionDenied("You may not view displays.")
        now = timezone.now()
        current = boards.page_version()
        rows = [
            {
                "display": d,
                "online": bool(d.last_seen and now - d.last_seen <= ONLINE_WITHIN and not d.revoked),
                "seconds_ago": int((now - d.last_seen).total_seconds()) if d.last_seen else None,
                "outdated": bool(d.page_version and d.page_version != current),
            }
            for d in Display.objects.order_by("name")
        ]
        context = {**self.admin_site.each_context(request), "title": "Wall fleet", "rows": rows,
                   "current_version": current, "opts": self.model._meta}
        return render(request, "admin/dashboard/display/fleet.html", context)

    def reload_view(self, request, display_id: int):
        """Tell every open wall of a display to reload now."""
        if not self.has_change_permission(request):
            raise PermissionDenied("You may not change displays.")
        display = get_object_or_404(Display, pk=display_id)
        control.reload_display(display.pk, f"reload requested by {request.user}")
        self.message_user(request, f"Asked “{display.name}” to reload.")
        return HttpResponseRedirect(reverse("admin:dashboard_display_fleet"))



def reload_walls(reason: str) -> None:
    """After the transaction commits, ask every open wall to reload: names are rendered into
    its page (desks pick them up on their next load)."""
    def send():
        for display_id in Display.objects.filter(revoked=False).values_list("pk", flat=True):
            control.reload_display(display_id, reason)
    transaction.on_commit(send)


@admin.register(DisplayName)
class DisplayNameAdmin(admin.ModelAdmin):
    """Aliases people read instead of ids; many at once from a CSV (import page, or manage.py import_display_names)."""

    list_display = ("object_type", "object_id", "display_name", "updated")
    list_display_links = ("object_id",)
    list_editable = ("display_name",)
    list_filter = ("object_type",)
    search_fields = ("object_id", "display_name")
    fields = ("object_type", "object_id", "display_name")
    actions = ["export_csv"]
    change_list_template = "admin/dashboard/displayname/change_list.html"

    @admin.action(description="Export selected display names as CSV")
    def export_csv(self, request, queryset):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(names.CSV_COLUMNS)
        writer.writerows(queryset.order_by("object_type", "object_id").values_list(*names.CSV_COLUMNS))
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="display-names.csv"'
        return response

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        reload_walls("display names changed")

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        reload_walls("display names changed")

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        reload_walls("display names changed")

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_view), name="dashboard_displayname_import")]
        return extra + super().get_urls()

    def import_view(self, request):
        """Upload a CSV; every bad line is listed and nothing is saved unless all lines are good."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            return HttpResponse(status=403)
        problems = []
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is None:
                problems = ["Choose a CSV file with the header object_type,object_id,display_name."]
            else:
                try:
                    counts = DisplayName.import_csv(names.decode_csv(upload.read(names.MAX_CSV_BYTES + 1)))
                except names.CsvProblems as error:
                    problems = error.problems
                else:
                    if counts["added"] or counts["renamed"]:
                        reload_walls("display names imported")
                    self.message_user(request, f"Imported display names: {counts['added']} added, {counts['renamed']} "
                                               f"renamed, {counts['unchanged']} unchanged.")
                    return HttpResponseRedirect(reverse("admin:dashboard_displayname_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Import display names", "problems": problems,
                   "opts": self.model._meta, "object_types": (*OBJECT_TYPES, names.STATISTIC)}
        return render(request, "admin/dashboard/displayname/import.html", context, status=400 if problems else 200)


# -- Sign in with Genesys (dashboard.sso_views) --


@admin.register(GenesysAccessRule)
class GenesysAccessRuleAdmin(admin.ModelAdmin):
    """The mapping from what Genesys says about a user to their groups and permissions here."""

    list_display = ("__str__", "granted_groups")
    list_filter = ("kind",)
    search_fields = ("value",)
    filter_horizontal = ("groups", "permissions")

    @admin.display(description="groups")
    def granted_groups(self, rule):
        """The groups the rule gives, by name."""
        return ", ".join(g.name for g in rule.groups.all()) or "-"


@admin.register(GenesysIdentity)
class GenesysIdentityAdmin(admin.ModelAdmin):
    """Who signs in through Genesys and what the tenant last said (read only: the tenant decides)."""

    list_display = ("subject", "user", "last_sign_in")
    search_fields = ("subject", "user__username")
    readonly_fields = ("user", "subject", "claims", "last_sign_in")

    def has_add_permission(self, request):
        """Made by signing in, not by hand."""
        return False
