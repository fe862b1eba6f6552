"""One RabbitMQ user per service, with permissions only for what it publishes and consumes.

RabbitMQ checks three regular expressions per user and vhost on resource names (exchanges and
queues), plus topic permissions on the routing keys of a topic exchange:

- configure (declare, delete): the events exchange, the service's own queues and requeue exchange;
- write (publish to an exchange, queue.bind onto a queue): the events exchange, its own queues and
  requeue exchange;
- read (consume from a queue, queue.bind from an exchange): its own queues, the events exchange and
  its requeue exchange;
- topic write (routing keys it may publish on the events exchange): the keys of the events it publishes;
- topic read (binding keys on the events exchange): the keys it subscribes to.

Nobody gets the default exchange (``amq.default``), so no service can put a message on another's queue.

``python -m mesh_kit.broker definitions`` prints a definitions file (users with salted SHA-256
password hashes, permissions, topic permissions) that ``rabbitmqctl import_definitions`` or the
``load_definitions`` setting reads; ``python -m mesh_kit.broker apply`` creates or updates the users
through the management HTTP API (compose's ``rabbitmq-users`` one-shot and the Helm hook Job run it).
Passwords come from ``DSP_<SERVICE>_AMQP_PASSWORD`` or the URL in ``DSP_<SERVICE>_AMQP_URL``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from shared_contracts.manifest import SERVICES

from .topology import Topology

__all__ = ["Permissions", "apply_with_rabbitmqctl", "definitions", "password_hash", "permissions", "user_name"]


def user_name(service: str, prefix: str = "dsp_") -> str:
    """The broker user of a service (a test run prefixes its own, since users are broker-wide)."""
    return f"{prefix}{service}"


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str
    topic_exchange: str
    topic_write: str
    topic_read: str


def _alternatives(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def permissions(service: str, topology: Topology) -> Permissions:
    manifest = SERVICES[service]
    own = re.escape(f"{topology.prefix}.{service}")
    exchange = re.escape(topology.exchange)
    # the service's queue, its dlq, retry queues and requeue exchange: "<prefix>.<service>" and "<prefix>.<service>.*"
    mine = f"^({exchange}|{own}(\\..+)?)$"
    publishes = [event.routing_key() for event in manifest.publishes]
    binds = list(manifest.binding_keys)
    return Permissions(
        configure=mine, write=mine, read=mine, topic_exchange=topology.exchange,
        topic_write=_alternatives(publishes) if publishes else "^$",
        topic_read=_alternatives(binds) if binds else "^$",
    )


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)), 4-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _password(service: str) -> str:
    """DSP_<SERVICE>_AMQP_PASSWORD, or the password inside DSP_<SERVICE>_AMQP_URL."""
    name = f"DSP_{service.upper()}_AMQP_PASSWORD"
    value = os.environ.get(name)
    url = os.environ.get(f"DSP_{service.upper()}_AMQP_URL")
    if not value and url:
        parts = urllib.parse.urlsplit(url)
        if parts.username and urllib.parse.unquote(parts.username) != user_name(service):
            raise SystemExit(f"DSP_{service.upper()}_AMQP_URL must use the user {user_name(service)}")
        value = urllib.parse.unquote(parts.password or "")
    if not value:
        raise SystemExit(f"{name} (or DSP_{service.upper()}_AMQP_URL) is not set")
    return value


def definitions(topology: Topology, passwords: dict[str, str], vhost: str = "/") -> dict[str, object]:
    """A RabbitMQ definitions document with the service users and their permissions on ``vhost``."""
    users, perms, topic = [], [], []
    for service, password in passwords.items():
        p = permissions(service, topology)
        users.append({"name": user_name(service), "password_hash": password_hash(password),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        perms.append({"user": user_name(service), "vhost": vhost, "configure": p.configure, "write": p.write,
                      "read": p.read})
        topic.append({"user": user_name(service), "vhost": vhost, "exchange": p.topic_exchange,
                      "write": p.topic_write, "read": p.topic_read})
    return {"users": users, "vhosts": [{"name": vhost}], "permissions": perms, "topic_permissions": topic}


def apply_with_rabbitmqctl(topology: Topology, passwords: dict[str, str], vhost: str,
                           rabbitmqctl: str = "rabbitmqctl", *, user_prefix: str = "dsp_") -> dict[str, str]:
    """Create or update the service users with rabbitmqctl (on the broker's host); their names by service.

    ``--`` ends rabbitmqctl's options before the names, passwords and patterns: a password that begins
    with "-" (``secrets.token_urlsafe`` makes one now and then) would be read as an option."""
    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([rabbitmqctl, "-q", *args], capture_output=True, timeout=60)

    users = {}
    for service, password in passwords.items():
        user = users[service] = user_name(service, user_prefix)
        if run("add_user", "--", user, password).returncode != 0:
            subprocess.run([rabbitmqctl, "-q", "change_password", "--", user, password], check=True,
                           capture_output=True, timeout=60)
        p = permissions(service, topology)
        subprocess.run([rabbitmqctl, "-q", "set_permissions", "-p", vhost, "--", user, p.configure, p.write, p.read],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([rabbitmqctl, "-q", "set_topic_permissions", "-p", vhost, "--", user, p.topic_exchange,
                        p.topic_write, p.topic_read], check=True, capture_output=True, timeout=60)
    return users


def apply_with_management_api(topology: Topology, passwords: dict[str, str], vhost: str, url: str, *,
                              wait_s: float = 60.0) -> None:
    """Create or update the service users through the management HTTP API (``url`` carries admin credentials)."""
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlunsplit((parts.scheme, (parts.hostname or "") + (f":{parts.port}" if parts.port else ""),
                                    parts.path.rstrip("/"), "", ""))
    auth = base64.b64encode(f"{urllib.parse.unquote(parts.username or '')}:"
                            f"{urllib.parse.unquote(parts.password or '')}".encode()).decode()
    quoted_vhost = urllib.parse.quote(vhost, safe="")

    def put(path: str, body: dict[str, object]) -> None:
        request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="PUT",
                                         headers={"Authorization": f"Basic {auth}",
                                                  "Content-Type": "application/json"})
        deadline = time.monotonic() + wait_s
        while True:  # the management listener may come up a little after the broker reports healthy
            try:
                with urllib.request.urlopen(request, timeout=30):
                    return
            except urllib.error.HTTPError:
                raise
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    put(f"/api/vhosts/{quoted_vhost}", {})
    for service, password in passwords.items():
        user = urllib.parse.quote(user_name(service), safe="")
        p = permissions(service, topology)
        put(f"/api/users/{user}", {"password": password, "tags": ""})
        put(f"/api/permissions/{quoted_vhost}/{user}", {"configure": p.configure, "write": p.write, "read": p.read})
        put(f"/api/topic-permissions/{quoted_vhost}/{user}",
            {"exchange": p.topic_exchange, "write": p.topic_write, "read": p.topic_read})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh_kit.broker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["definitions", "apply", "permissions"])
    parser.add_argument("--vhost", default=os.environ.get("DSP_AMQP_VHOST", "/"))
    parser.add_argument("--exchange", default=os.environ.get("DSP_EXCHANGE", "dsp.events"))
    parser.add_argument("--queue-prefix", default=os.environ.get("DSP_QUEUE_PREFIX", "dsp"))
    parser.add_argument("--management-url", default=os.environ.get("DSP_RABBITMQ_MANAGEMENT_URL"),
                        help="http://admin:password@rabbitmq:15672 (apply); without it, apply runs rabbitmqctl")
    parser.add_argument("--services", default=os.environ.get("DSP_BROKER_SERVICES", ",".join(SERVICES)))
    args = parser.parse_args(argv)
    topology = Topology(exchange=args.exchange, prefix=args.queue_prefix)
    services = [name.strip() for name in args.services.split(",") if name.strip()]
    if args.command == "permissions":
        for service in services:
            print(json.dumps({"user": user_name(service), **permissions(service, topology).__dict__}))
        return 0
    passwords = {service: _password(service) for service in services}
    if args.command == "definitions":
        print(json.dumps(definitions(topology, passwords, args.vhost), indent=2))
    elif args.management_url:
        apply_with_management_api(topology, passwords, args.vhost, args.management_url)
        print(json.dumps({"applied": [user_name(s) for s in services], "vhost": args.vhost}))
    else:
        apply_with_rabbitmqctl(topology, passwords, args.vhost)
        print(json.dumps({"applied": [user_name(s) for s in services], "vhost": args.vhost}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
