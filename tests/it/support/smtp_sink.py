"""A real SMTP server for esoutliers' notification tests (aiosmtpd), on 127.0.0.1.

usage: smtp_sink.py MODE PORT OUTDIR CERT KEY USER PASSWORD
MODE: tls (TLS from the first byte), starttls (STARTTLS required), none (plain).
Each message received is written to OUTDIR as NNNN.json: envelope sender and recipients,
the raw message, and whether the client logged in. Prints "ready" once listening, and
stops when its standard input closes.
"""
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir, cert, key, user, password = sys.argv[1:8]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".json")])
        tmp = os.path.join(outdir, f"{n:04}.tmp")
        with open(tmp, "w") as f:
            json.dump(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf8", "replace"),
                    "authenticated": bool(session.authenticated),
                },
                f,
            )
        os.rename(tmp, os.path.join(outdir, f"{n:04}.json"))
        return "250 OK"


def check(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok, handled=False)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
common = dict(hostname="127.0.0.1", port=int(port), authenticator=check)
if mode == "tls":
    c = Controller(Sink(), ssl_context=ctx, auth_require_tls=False, **common)
elif mode == "starttls":
    c = Controller(Sink(), tls_context=ctx, require_starttls=True, **common)
else:
    c = Controller(Sink(), auth_require_tls=False, **common)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
