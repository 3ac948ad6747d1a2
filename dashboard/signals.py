"""Model signals that tell the bridge and the open sockets about admin edits.

What the bridge subscribes is what the widgets show (``dashboard.wanted``), so edits to
statistics, widgets, their statistics and dashboards tell it (``statsbridge.control``) to
re-read what is wanted; deleting a dashboard closes its desk sockets; edits to displays
and their playlists make open wall sockets re-check their token and playlist. Each is
sent after the transaction commits, so what is re-read is what was saved.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from dashboard.models import Dashboard, Display, DisplayItem, Widget, WidgetStatistic
from statsbridge import control
from statsbridge.models import Statistic


def _config_changed(sender, **kwargs) -> None:
    transaction.on_commit(control.config_changed)


def _dashboard_deleted(sender, instance, **kwargs) -> None:
    transaction.on_commit(partial(control.dashboard_removed, instance.pk))


def _display_changed(sender, instance, **kwargs) -> None:
    display_id = getattr(instance, "display_id", None) or instance.pk
    if display_id is not None:
        transaction.on_commit(partial(control.display_changed, display_id))


def connect() -> None:
    """Connect the handlers (called once from the app config)."""
    for model in (Statistic, Widget, WidgetStatistic, Dashboard):
        post_save.connect(_config_changed, sender=model, dispatch_uid=f"config-save-{model.__name__}")
        post_delete.connect(_config_changed, sender=model, dispatch_uid=f"config-delete-{model.__name__}")
    m2m_changed.connect(_config_changed, sender=Widget.statistics.through, dispatch_uid="config-m2m-widget")
    post_delete.connect(_dashboard_deleted, sender=Dashboard, dispatch_uid="dashboard-deleted")
    for model in (Display, DisplayItem):
        post_save.connect(_display_changed, sender=model, dispatch_uid=f"display-save-{model.__name__}")
        post_delete.connect(_display_changed, sender=model, dispatch_uid=f"display-delete-{model.__name__}")
    m2m_changed.connect(_display_changed_m2m, sender=Display.dashboards.through, dispatch_uid="display-m2m")


def _display_changed_m2m(sender, instance, **kwargs) -> None:
    if isinstance(instance, Display):
        transaction.on_commit(partial(control.display_changed, instance.pk))
