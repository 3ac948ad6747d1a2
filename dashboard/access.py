"""Sessions end everywhere: open desk sockets re-check who they serve when access changes.

A desk socket checks its session once, when it connects. These signal handlers tell the
sockets concerned to check again, after the change is committed: the user's own sockets
when the user logs out (from any tab: the socket of the ended session closes at once),
is saved (deactivated, password changed, staff flag dropped), deleted or moves between
groups; a dashboard's sockets when its owner or groups change or a group of it goes.
A socket that no longer passes closes with ``SIGNED_OUT`` or ``FORBIDDEN``
(``dashboard.consumers``); deleting a dashboard closes its sockets with ``GONE`` already.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from statsbridge.fanout import dashboard_group

log = logging.getLogger(__name__)
CHECK = "access.check"


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's open desk sockets."""
    return f"desk-user-{user_id}"


def _send(groups: list[str], message: dict) -> None:
    """Tell these groups' sockets to re-check; a channel-layer failure is logged, the save stands."""
    layer = get_channel_layer()
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception as error:  # Redis away: sockets re-check at their next connect
            log.warning("could not ask %s to re-check access (%s)", group, type(error).__name__)


def check_users(user_ids, ended_session: str | None = None) -> None:
    """After the commit, make the open desk sockets of these users re-check their access."""
    message = {"type": CHECK, **({"ended_session": ended_session} if ended_session else {})}
    groups = [user_group(pk) for pk in set(user_ids) if pk is not None]
    if groups:
        transaction.on_commit(partial(_send, groups, message))


def check_dashboards(dashboard_ids) -> None:
    """After the commit, make the open sockets of these dashboards re-check their access."""
    groups = [dashboard_group(pk) for pk in set(dashboard_ids) if pk is not None]
    if groups:
        transaction.on_commit(partial(_send, groups, {"type": CHECK}))


def _logged_out(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: name it, so its sockets close without re-reading it.
    session = getattr(request, "session", None)
    if user is not None:
        check_users([user.pk], getattr(session, "session_key", None))


def _user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) == {"last_login"}:
        return  # every login saves this: nothing about access
    check_users([instance.pk])


def _user_deleted(sender, instance, **kwargs) -> None:
    check_users([instance.pk])


def _user_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    from django.contrib.auth.models import Group

    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not isinstance(instance, Group):  # user.groups changed
        check_users([instance.pk])
    elif action == "pre_clear":  # group.user_set.clear(): who is in it now
        check_users(instance.user_set.values_list("pk", flat=True))
    else:
        check_users(pk_set or ())


def _dashboard_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    from dashboard.models import Dashboard

    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if isinstance(instance, Dashboard):
        check_dashboards([instance.pk])
    elif action == "pre_clear":
        check_dashboards(instance.dashboard_set.values_list("pk", flat=True))
    else:
        check_dashboards(pk_set or ())


def _dashboard_saved(sender, instance, created, **kwargs) -> None:
    if not created:
        check_dashboards([instance.pk])  # the owner may have changed


def _group_deleted(sender, instance, **kwargs) -> None:
    check_users(instance.user_set.values_list("pk", flat=True))
    check_dashboards(instance.dashboard_set.values_list("pk", flat=True))


def connect() -> None:
    """Connect the handlers (once, from the app config)."""
    from django.contrib.auth import get_user_model, user_logged_out
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

    from dashboard.models import Dashboard

    user = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="access-logout")
    post_save.connect(_user_saved, sender=user, dispatch_uid="access-user-saved")
    post_delete.connect(_user_deleted, sender=user, dispatch_uid="access-user-deleted")
    m2m_changed.connect(_user_groups_changed, sender=user.groups.through, dispatch_uid="access-user-groups")
    m2m_changed.connect(_dashboard_groups_changed, sender=Dashboard.groups.through, dispatch_uid="access-dash-groups")
    post_save.connect(_dashboard_saved, sender=Dashboard, dispatch_uid="access-dashboard-saved")
    pre_delete.connect(_group_deleted, sender=Group, dispatch_uid="access-group-deleted")
