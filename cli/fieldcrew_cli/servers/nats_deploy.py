"""The users of ``deploy/nats/nats-server.conf``, generated from the embedded server's
:func:`permissions_of` (the services' and the integration user's), so that production grants
exactly what the embedded server of ``make run`` and the tests grants. A test checks the
committed file against :func:`users_block`; after a change of the permissions, write it
again::

    .venv/bin/python -m fieldcrew_cli.servers.nats_deploy deploy/nats/nats-server.conf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fieldcrew_cli.servers.nats_server import (
    INTEGRATION_USER,
    NATS_USER,
    SERVICE_USERS,
    permissions_of,
)

BEGIN = "# --- users: generated from permissions_of by fieldcrew_cli.servers.nats_deploy ---"
END = "# --- end of the generated users ---"


def password_variable(user: str) -> str:
    """The server's environment variable holding ``user``'s password."""
    return (
        "FIELDCREW_NATS_PASSWORD"
        if user == NATS_USER
        else f"FIELDCREW_NATS_{user.upper()}_PASSWORD"
    )


def users_block() -> str:
    """The ``authorization`` block, between its markers: the admin, one user per service and
    the integration user, with their permissions; passwords come from the server's
    environment."""
    lines = [BEGIN, "authorization {", "  users: ["]
    lines.append(f'    {{ user: "{NATS_USER}", password: ${password_variable(NATS_USER)} }}')
    for service in (*SERVICE_USERS, INTEGRATION_USER):
        permissions = json.dumps(permissions_of(service), indent=2).replace("\n", "\n      ")
        lines.append(
            f'    {{ user: "{service}", password: ${password_variable(service)},'
            f" permissions: {permissions} }}"
        )
    lines += ["  ]", "}", END]
    return "\n".join(lines) + "\n"


def generated_part(config: str) -> str:
    """The part of ``config`` between the markers, markers included ('' if there is none)."""
    start, end = config.find(BEGIN), config.find(END)
    if start < 0 or end < 0:
        return ""
    return config[start : end + len(END)] + "\n"


def rewrite(path: Path) -> None:
    """Replace the generated part of the config at ``path`` with :func:`users_block`."""
    config = path.read_text()
    old = generated_part(config)
    if not old:
        raise SystemExit(f"{path} has no {BEGIN!r} ... {END!r} part to replace")
    path.write_text(config.replace(old, users_block()))


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]))
