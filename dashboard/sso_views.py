"""Sign in with Genesys: the login page's button, the start and callback of the flow, the
local user it signs in, sign-out at the tenant, and re-applying a changed mapping.

Every refusal ends on the login page with a plain message and leaves nothing half made:
the local user is created or updated only once the tenant has vouched for them, in one
transaction. Codes, tokens and client secrets never reach a page, a log line or an error.
"""

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard import sso, sso_client
from dashboard.models import GenesysAccessRule, GenesysIdentity

log = logging.getLogger(__name__)

FLOW_KEY = "genesys_sso_flow"  # the started sign-in: state, redirect URI, where to go, when
TOKEN_KEY = "genesys_sso_token"  # the sign-in's access token, for /sign-out at logout (server-side session)
BACKEND = "django.contrib.auth.backends.ModelBackend"

STATE_REFUSED = "The sign-in through Genesys could not be completed: it expired or was started elsewhere. Please try again."
DENIED = "The sign-in through Genesys was cancelled."
CODE_REFUSED = (
    "Genesys did not accept this sign-in (it was already used, expired, or meant for another address). Please try again."
)
UNREACHABLE = "Genesys cannot be reached right now. Please try again later, or log in with a local account."
NOT_GRANTED = "Your Genesys account is not given any dashboards here. Ask {contact} for access."
NAME_TAKEN = "A local account already uses your Genesys user name. Ask {contact} to sort it out."
INACTIVE = "Your account here is disabled. Ask {contact}."


def enabled() -> bool:
    """Whether sign-in through Genesys is on (``GENESYS_SSO``)."""
    return bool(settings.GENESYS_SSO["ENABLED"])


class LoginView(auth_views.LoginView):
    """The local login page, offering "Sign in with Genesys" when that is on."""

    def get_context_data(self, **kwargs):
        """Adds ``genesys_sso``: whether to offer the Genesys sign-in."""
        context = super().get_context_data(**kwargs)
        context["genesys_sso"] = enabled()
        return context


def _contact() -> str:
    return settings.ADMIN_CONTACT or "your administrator"


def _refuse(request, message: str, reason: str):
    log.info("Genesys sign-in refused: %s", reason)
    messages.error(request, message.format(contact=_contact()))
    return redirect(settings.LOGIN_URL)


def _redirect_uri(request) -> str:
    return settings.GENESYS_SSO["REDIRECT_URI"] or request.build_absolute_uri(reverse("genesys-callback"))


@never_cache
@require_safe
def start(request):
    """Send the browser to the tenant's sign-in form with a fresh state bound to this session."""
    if not enabled():
        raise Http404()
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    state, redirect_uri = sso.new_state(), _redirect_uri(request)
    request.session[FLOW_KEY] = {"state": state, "redirect_uri": redirect_uri, "next": next_url,
                                 "started": time.time()}
    conf = sso_client.sso_settings()
    return redirect(sso.authorize_url(conf["AUTH_URL"], conf["CLIENT_ID"], redirect_uri, state))


@never_cache
@require_safe
def callback(request):
    """The registered redirect URI: check the state, trade the code, read /userinfo, sign in."""
    if not enabled():
        raise Http404()
    flow = request.session.pop(FLOW_KEY, None)  # one answer per started sign-in
    if not isinstance(flow, dict) or not sso.state_matches(flow.get("state"), request.GET.get("state")):
        return _refuse(request, STATE_REFUSED, "no sign-in started in this session, or another state")
    if time.time() - flow.get("started", 0) > settings.GENESYS_SSO["FLOW_SECONDS"]:
        return _refuse(request, STATE_REFUSED, "the sign-in took too long")
    if "error" in request.GET:
        denied = request.GET.get("error") == "access_denied"
        return _refuse(request, DENIED if denied else UNREACHABLE, "the tenant answered an error")
    code = request.GET.get("code")
    if not code:
        return _refuse(request, UNREACHABLE, "no code")
    try:
        token = sso_client.exchange_code(code, flow["redirect_uri"])
    except sso_client.CodeRefused:
        return _refuse(request, CODE_REFUSED, "the code was refused")
    except sso_client.TenantUnreachable:
        return _refuse(request, UNREACHABLE, "the tenant is unreachable")
    try:
        claims = sso.claims_from(sso_client.read_userinfo(token))
    except (sso_client.TenantUnreachable, sso.UserInfoError):
        sso_client.sign_out(token)
        return _refuse(request, UNREACHABLE, "no usable userinfo")
    user, refusal = sign_in_user(claims)
    if user is None:
        sso_client.sign_out(token)  # not kept: end it at the tenant now
        return _refuse(request, refusal, "not granted here")
    login(request, user, backend=BACKEND)  # a new session key: nothing of the old session is trusted
    if settings.GENESYS_SSO["SIGN_OUT"] and not settings.SESSION_ENGINE.endswith("signed_cookies"):
        request.session[TOKEN_KEY] = token  # kept server-side only: a cookie session would hand it to the browser
    else:
        sso_client.sign_out(token)  # not needed after sign-in
    log.info("Genesys sign-in: user %s signed in", user.pk)
    return redirect(flow.get("next") or settings.LOGIN_REDIRECT_URL)


def _rules() -> list[sso.Rule]:
    return [sso.Rule(r.kind, r.value, frozenset(g.pk for g in r.groups.all()),
                     frozenset(p.pk for p in r.permissions.all()))
            for r in GenesysAccessRule.objects.prefetch_related("groups", "permissions")]


def _apply(user, rules: list[sso.Rule], claims: sso.Claims) -> bool:
    """Give the user exactly what the mapping grants now; whether it grants anything."""
    group_ids, permission_ids = sso.grants(rules, claims)
    if set(user.groups.values_list("pk", flat=True)) != group_ids:
        user.groups.set(group_ids)  # a lost group closes its open sockets (dashboard.access)
    if set(user.user_permissions.values_list("pk", flat=True)) != permission_ids:
        user.user_permissions.set(permission_ids)
    return bool(group_ids or permission_ids)


@transaction.atomic
def sign_in_user(claims: sso.Claims):
    """``(user, None)`` for the local user of these claims, made or updated from them, or
    ``(None, message)`` when they may not sign in. Someone the mapping no longer grants
    anything loses what they had, and is refused; no one new is made for nothing."""
    rules = _rules()
    identity = GenesysIdentity.objects.select_related("user").filter(subject=claims.subject).first()
    if identity is None:
        if not any(sso.grants(rules, claims)):
            return None, NOT_GRANTED
        users = get_user_model()
        if len(claims.subject) > 150 or users.objects.filter(username__iexact=claims.subject).exists():
            return None, NAME_TAKEN  # never take over a local account by its name
        user = users(username=claims.subject)
        user.set_unusable_password()  # signs in through Genesys only
        user.save()
        identity = GenesysIdentity(user=user, subject=claims.subject)
    user = identity.user
    identity.claims, identity.last_sign_in = claims.as_json(), timezone.now()
    identity.save()
    if not _apply(user, rules, claims):
        return None, NOT_GRANTED
    if not user.is_active:
        return None, INACTIVE
    return user, None


def reapply_mapping() -> None:
    """Apply the current mapping to every user who signs in through Genesys (from their last claims)."""
    rules = _rules()
    for identity in GenesysIdentity.objects.select_related("user"):
        _apply(identity.user, rules, sso.Claims.from_json(identity.claims))


def _reapply_atomically() -> None:
    with transaction.atomic():
        reapply_mapping()


def _mapping_changed(sender, action: str | None = None, **kwargs) -> None:
    # After the commit, once the admin has saved the rule and its groups and permissions.
    if action is None or action.startswith("post_"):
        transaction.on_commit(_reapply_atomically)


def _logged_out(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: the token is still there.
    session = getattr(request, "session", None)
    token = session.get(TOKEN_KEY) if session is not None else None
    if token and settings.GENESYS_SSO["SIGN_OUT"]:
        ended = sso_client.sign_out(token)
        log.info("Genesys sign-in: signed out at the tenant%s", "" if ended else " failed (the token lapses by itself)")


def connect() -> None:
    """Connect the handlers (once, from the app config)."""
    from django.contrib.auth import user_logged_out
    from django.db.models.signals import m2m_changed, post_delete, post_save

    user_logged_out.connect(_logged_out, dispatch_uid="genesys-sso-logout")
    post_save.connect(_mapping_changed, sender=GenesysAccessRule, dispatch_uid="genesys-rule-saved")
    post_delete.connect(_mapping_changed, sender=GenesysAccessRule, dispatch_uid="genesys-rule-deleted")
    m2m_changed.connect(_mapping_changed, sender=GenesysAccessRule.groups.through, dispatch_uid="genesys-rule-groups")
    m2m_changed.connect(_mapping_changed, sender=GenesysAccessRule.permissions.through,
                        dispatch_uid="genesys-rule-perms")
