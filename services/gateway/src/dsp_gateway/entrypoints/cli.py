"""``python -m dsp_gateway create-user``: add a user (and its organization when it is new) from a shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import psycopg
from mesh_kit.settings import MeshSettings
from psycopg import sql

from ..adapters.identity import PostgresIdentityRepository
from ..domain.identity import ROLES
from ..service_layer import identity

__all__ = ["create_user_command"]


async def _create(database_url: str, *, email: str, password: str, role: str, organization: str) -> dict[str, object]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier("gateway")))
        async with conn.transaction():
            user, created = await identity.ensure_user(PostgresIdentityRepository(conn), email=email,
                                                       password=password, role=role, organization=organization)
    return {"id": str(user.user_id), "email": user.email, "role": user.role,
            "organization": user.organization_name, "created": created}


def create_user_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsp_gateway create-user",
                                     description="Create a user, and its organization if it does not exist.")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", default=None,
                        help="the password (default: the DSP_NEW_USER_PASSWORD variable, keeping it off the command line)")
    parser.add_argument("--role", choices=ROLES, default="analyst")
    parser.add_argument("--organization", default="default", help="the organization's name")
    args = parser.parse_args(argv)
    password = args.password or os.environ.get("DSP_NEW_USER_PASSWORD")
    if not password:
        print("create-user: give --password or set DSP_NEW_USER_PASSWORD", file=sys.stderr)
        return 2
    try:
        settings = MeshSettings()
    except Exception as exc:
        print(f"gateway: invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_create(settings.database_url, email=args.email, password=password, role=args.role,
                                     organization=args.organization))
    except identity.IdentityFailure as exc:
        print(f"create-user: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
