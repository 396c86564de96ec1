"""A local SMTP server for Kairos's email tests, built on aiosmtpd.

    python smtp_sink.py DIR [--auth USER:PASSWORD]

Listens on 127.0.0.1 on a free port, prints the port on the first line of stdout, and
writes every message it receives to DIR: `NNNN.eml` (the raw data) and then `NNNN.json`
(`mail_from`, `rcpt_tos`, the `reply` it gave, the client's `peer_port` and the `login` it
signed in with). It stops when its stdin closes, so it never outlives the test.

The recipient's local part tells it how to answer, the way a real server would:
- `reject550@…`: `550` to `RCPT TO` (no such user);
- `busy451@…`: `451` to `RCPT TO` (try again later);
- `flaky451@…`: `451` after the first message's data, `250` after the next;
- `hang@…`: no answer to the first message's data for 5 s, `250` for the next;
- anything else: `250`.
With `--auth`, signing in (PLAIN or LOGIN, allowed without TLS) is required.
"""

import argparse
import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.seen = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local == "reject550":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        if local == "busy451":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        local = envelope.rcpt_tos[0].split("@")[0].lower()
        nth = self.seen.get(local, 0) + 1
        self.seen[local] = nth
        reply = "250 2.0.0 Ok: queued"
        if local == "flaky451" and nth == 1:
            reply = "451 4.3.0 Temporary local problem, please try again"
        self.record(session, envelope, reply)
        if local == "hang" and nth == 1:
            await asyncio.sleep(5)
        return reply

    def record(self, session, envelope, reply):
        self.count += 1
        base = os.path.join(self.directory, f"{self.count:04}")
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "reply": reply,
            "peer_port": session.peer[1],
            "login": login,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--auth")
    args = parser.parse_args()
    sink = Sink(args.directory)
    options = {}
    if args.auth:
        user, password = args.auth.split(":", 1)
        options = {"authenticator": authenticator(user, password), "auth_required": True, "auth_require_tls": False}

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="kairos-test-smtp", enable_SMTPUTF8=True, **options), host="127.0.0.1", port=0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
