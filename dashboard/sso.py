"""Sign in with Genesys, the pure parts: the authorize URL, the state check, and the mapping
from what the tenant's ``/userinfo`` says to the groups and permissions it grants here.

The flow is the reference's Authorization Code grant (docs/upstream.md); the I/O lives in
``dashboard.sso_client`` (calls to the tenant) and ``dashboard.sso_views`` (the pages).
"""

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

AUTH_BASE = "/auth/v3"
# Kinds of what a mapping rule matches in /userinfo.
USER_NAME = "user"
AUTHORITY = "authority"
PRIVILEGE = "privilege"
KINDS = (USER_NAME, AUTHORITY, PRIVILEGE)


def new_state() -> str:
    """An unguessable ``state`` for one sign-in (bound to the browser's session by the caller)."""
    return secrets.token_urlsafe(32)


def state_matches(expected: str | None, given: str | None) -> bool:
    """Whether the callback's ``state`` is the one this session sent (constant time)."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def authorize_url(auth_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the browser signs in: ``/auth/v3/oauth/authorize`` with the reference's query parameters."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "state": state})
    return f"{auth_url.rstrip('/')}{AUTH_BASE}/oauth/authorize?{query}"


@dataclass(frozen=True)
class Claims:
    """What ``/userinfo`` (the reference's CloudUserDetails) says about a user, as matched here.

    ``subject`` is ``username``, the system-wide unique name; ``names`` holds it and the
    Configuration Server names (``loginName``, ``cmeUserName``); ``authorities`` the role
    names, ``privileges`` every privilege of those roles. All compared without case.
    """

    subject: str
    names: tuple[str, ...]
    authorities: tuple[str, ...]
    privileges: tuple[str, ...]

    def as_json(self) -> dict:
        """Stored with the local user, so a changed mapping applies before the next sign-in."""
        return {"subject": self.subject, "names": list(self.names), "authorities": list(self.authorities),
                "privileges": list(self.privileges)}

    @classmethod
    def from_json(cls, data: dict) -> "Claims":
        """The inverse of ``as_json``."""
        return cls(str(data.get("subject", "")), tuple(data.get("names", ())), tuple(data.get("authorities", ())),
                   tuple(data.get("privileges", ())))


class UserInfoError(ValueError):
    """``/userinfo`` did not describe a user (no ``username``)."""


def claims_from(userinfo: object) -> Claims:
    """The claims of a ``/userinfo`` reply; raises ``UserInfoError`` when it names no user."""
    if not isinstance(userinfo, dict):
        raise UserInfoError("userinfo is not an object")
    subject = userinfo.get("username")
    if not isinstance(subject, str) or not subject.strip():
        raise UserInfoError("userinfo has no username")
    names = [subject] + [userinfo[k] for k in ("loginName", "cmeUserName") if isinstance(userinfo.get(k), str)]
    authorities, privileges = [], []
    for role in userinfo.get("authorities") or ():
        if isinstance(role, dict) and isinstance(role.get("name"), str):
            authorities.append(role["name"])
            privileges += [p for p in role.get("privileges") or () if isinstance(p, str)]
    return Claims(subject.strip(), _unique(names), _unique(authorities), _unique(privileges))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def rule_matches(kind: str, value: str, claims: Claims) -> bool:
    """Whether a rule (``kind``, ``value``) applies to a user with these claims."""
    wanted = value.strip().casefold()
    pool = {USER_NAME: claims.names, AUTHORITY: claims.authorities, PRIVILEGE: claims.privileges}.get(kind, ())
    return bool(wanted) and any(item.casefold() == wanted for item in pool)


@dataclass(frozen=True)
class Rule:
    """A mapping rule as plain data: what it matches and what it grants."""

    kind: str
    value: str
    group_ids: frozenset[int]
    permission_ids: frozenset[int]


def grants(rules, claims: Claims) -> tuple[set[int], set[int]]:
    """``(group ids, permission ids)`` every matching rule grants together."""
    groups: set[int] = set()
    permissions: set[int] = set()
    for rule in rules:
        if rule_matches(rule.kind, rule.value, claims):
            groups |= rule.group_ids
            permissions |= rule.permission_ids
    return groups, permissions
