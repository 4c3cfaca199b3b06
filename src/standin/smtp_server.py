"""A real SMTP server for the tests: Debian's aiosmtpd, storing every message
it accepts in a Maildir (with X-MailFrom / X-RcptTo headers added by
aiosmtpd's Mailbox handler), offering STARTTLS with the given certificate,
and AUTH PLAIN/LOGIN for one user (only over TLS, as aiosmtpd insists).
Messages to an address in --reject are refused with 550 at RCPT.

    smtp_server.py --port P --maildir DIR [--cert C --key K] [--user U --password W] [--reject ADDR]...

Prints "ready" once listening; stops on SIGTERM.
"""
import argparse
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler(Mailbox):
    def __init__(self, maildir, reject):
        super().__init__(maildir)
        self.reject = {r.lower() for r in reject}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--reject", action="append", default=[])
    a = p.parse_args()

    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
        return AuthResult(success=ok, handled=False)

    kwargs = {}
    if a.user:
        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=tls is not None)
    controller = Controller(
        Handler(a.maildir, a.reject), hostname="127.0.0.1", port=a.port, tls_context=tls, require_starttls=tls is not None, **kwargs
    )
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
