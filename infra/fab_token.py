"""Run inside an Airflow API server pod as `python -c <this file> USERNAME SECONDS`: a short-lived API token.

GKE environments have no password login (people sign in with Google), so the bootstrap acts as a FAB
service user that this script ensures: role Admin, a random password that is never stored or printed.
It then prints a JWT for that user from the auth manager's own `generate_jwt` (the `sub` claim is the
FAB user id, which is what the FAB auth manager's `deserialize_user` reads back), valid for SECONDS.

infra/bootstrap.py sends this file's text through the Kubernetes exec API: it imports only Airflow and
the FAB provider (the image has no infra/). Output, one item a line: `user created|updated|unchanged`,
then `token <jwt>`; failures exit non-zero with one line on stderr.
"""

import secrets
import sys

FAB = "FabAuthManager"


def ensure_user(sm, username: str) -> tuple[object, str]:
    admin = sm.find_role("Admin")
    if admin is None:
        sys.exit("the FAB role Admin does not exist yet: has the API server finished starting?")
    user = sm.find_user(username=username)
    if user is None:
        password = secrets.token_urlsafe(32)  # never leaves this process; nobody signs in with it
        user = sm.add_user(username, "Platform", "Bootstrap", f"{username}@bootstrap.invalid", admin, password)
        if not user:
            sys.exit(f"FAB could not create the user {username}")
        return user, "created"
    if [role.name for role in user.roles] != ["Admin"] or not user.active:
        user.roles, user.active = [admin], True
        sm.update_user(user)
        return user, "updated"
    return user, "unchanged"


def main(username: str, seconds: int) -> None:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    auth_manager = create_auth_manager()
    if type(auth_manager).__name__ != FAB:
        sys.exit(f"the auth manager is {type(auth_manager).__name__}, not {FAB}: no service user to mint a token for")
    with get_application_builder() as appbuilder:
        user, action = ensure_user(appbuilder.sm, username)
        token = auth_manager.generate_jwt(user, expiration_time_in_seconds=seconds)
    print(f"user {action}")
    print(f"token {token}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
