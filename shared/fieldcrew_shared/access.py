"""Who may see a work order: the one authorization rule every service applies alike.

Dispatchers, admins and analysts see every work order's views (status, server report); only
dispatchers and admins also its leader's report and photos (the evidence). A technician sees
only work orders whose crew they are on. Command rules (only the leader submits the report,
...) are not here: they live in the services' domain modules.
"""

from __future__ import annotations

from fieldcrew_shared.auth import Principal, Role
from fieldcrew_shared.errors import ForbiddenError
from fieldcrew_shared.events import Crew

OFFICE_ROLES = frozenset({Role.dispatcher, Role.admin, Role.analyst})
DISPATCH_ROLES = frozenset({Role.dispatcher, Role.admin})
"""The office roles that also read the leader's report and the photos of any work order."""


def on_crew(crew: Crew, user: str) -> bool:
    return user == crew.leader or user in crew.members


def require_view(crew: Crew, principal: Principal, office: frozenset[Role] = OFFICE_ROLES) -> None:
    """ForbiddenError unless the caller has one of the ``office`` roles or is on the crew
    (with a technician's token)."""
    if principal.role in office:
        return
    if principal.role == Role.technician and on_crew(crew, principal.sub):
        return
    raise ForbiddenError("you are not on this work order's crew")


def crew_role(crew: Crew, user: str) -> str | None:
    """``leader``, ``member`` or None."""
    if user == crew.leader:
        return "leader"
    return "member" if user in crew.members else None
