"""People: accounts and their tokens (on the controller machine)."""

from __future__ import annotations

import sys

import typer

from .common import fail, local_sessions

user_app = typer.Typer(
    help="Tài khoản / accounts (run on the controller machine)", no_args_is_help=True
)


@user_app.command("add")
def user_add(
    username: str,
    role: list[str] = typer.Option(
        ...,
        "--role",
        "-r",
        help="broadcaster, approver, technician, admin, province "
        "(the provincial system's export token; repeatable)",
    ),
    display_name: str = typer.Option("", "--display-name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input"
    ),
) -> None:
    """Create an account (the first admin too). There is no default password: you choose it."""

    from controller.auth import Role
    from controller.domain.errors import DomainError
    from controller.services.accounts import create_user

    try:
        roles = [Role(r) for r in role]
    except ValueError:
        fail(
            f"Vai trò không hợp lệ / unknown role: {', '.join(role)} "
            f"(broadcaster, approver, technician, admin, province)"
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)
    try:
        create_user(local_sessions(), username, password, roles, display_name)
    except ValueError as exc:
        fail(f"Không tạo được / not created: {exc}")
    except DomainError as exc:
        fail(f"Không tạo được / not created: {exc.key}")
    typer.echo(f"Đã tạo / created: {username} ({', '.join(r.value for r in roles)})")


@user_app.command("token")
def user_token(username: str, name: str = typer.Option("cli", "--name")) -> None:
    """Issue a personal API token for the CLI (printed once; export it as LOALANG_TOKEN)."""
    from controller.domain.errors import DomainError
    from controller.services.accounts import issue_token

    try:
        _, token = issue_token(local_sessions(), username, name)
    except DomainError as exc:
        fail(f"{exc.key}: {username}")
    typer.echo(token)
