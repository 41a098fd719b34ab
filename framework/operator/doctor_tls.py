"""doctor's TLS check: a separate handshake with the account's own verified context
(`Tls.context()`: its CA bundle, host name checked, TLS 1.2+), and what the server's
certificate names.

The engines start TLS differently: PostgreSQL after an SSLRequest message, MySQL and MariaDB
after the server's greeting and the client's SSLRequest packet, Redis at once. When the
certificate does not verify, a second handshake that does not verify fetches it, only to show
its subject, issuer and names (decoded with `cryptography` when it is installed); nothing is
sent over either connection after the handshake.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

from smrotate.database import CA_BUNDLE_ENV, DatabaseAccount
from smrotate.errors import SmrotateError
from smrotate.operator.doctor import Check, failed, passed, skipped

PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, 16 MB packets, utf8mb4.
MYSQL_SSL_REQUEST = struct.pack("<IIB23x", 0x200 | 0x800 | 0x8000, 1 << 24, 45)
MYSQL_CLIENT_SSL = 0x800


class NoTls(Exception):
    """The server answered that it does not offer TLS."""


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection before TLS started")
        data += chunk
    return data


def _postgres(sock: socket.socket) -> None:
    sock.sendall(PG_SSL_REQUEST)
    if _read(sock, 1) != b"S":
        raise NoTls("the server refused the SSLRequest (ssl = off)")


def _mysql(sock: socket.socket) -> None:
    length = int.from_bytes(_read(sock, 4)[:3], "little")
    greeting = _read(sock, length)
    if greeting[:1] == b"\xff":
        raise ConnectionError("the server refused the connection before TLS started")
    end = greeting.index(b"\0", 1)  # protocol version, server version (NUL-terminated)
    capabilities = int.from_bytes(greeting[end + 14 : end + 16], "little")
    if not capabilities & MYSQL_CLIENT_SSL:
        raise NoTls("the server does not offer TLS (no CLIENT_SSL in its greeting)")
    sock.sendall(len(MYSQL_SSL_REQUEST).to_bytes(3, "little") + b"\x01" + MYSQL_SSL_REQUEST)


PREAMBLES: dict[str, Callable[[socket.socket], None]] = {
    "postgres": _postgres,
    "aurora-postgresql": _postgres,
    "mysql": _mysql,
    "aurora-mysql": _mysql,
    "mariadb": _mysql,
    "redis": lambda sock: None,
}


def _handshake(account: DatabaseAccount, context: ssl.SSLContext) -> Any:
    """Connect, start TLS as the engine does, return the peer certificate (dict, or DER when
    `context` does not verify)."""
    preamble = PREAMBLES[account.engine]
    with socket.create_connection((account.host, account.port), account.connect_timeout) as raw:
        preamble(raw)
        with context.wrap_socket(raw, server_hostname=account.host) as tls:
            verified = context.verify_mode == ssl.CERT_REQUIRED
            return tls.getpeercert(binary_form=not verified)


def _names(cert: dict[str, Any]) -> str:
    subject = dict(item for rdn in cert.get("subject", ()) for item in rdn)
    sans = ", ".join(f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ()))
    return f"subject CN={subject.get('commonName', '?')}, SANs {sans or 'none'}"


def _unverified_names(account: DatabaseAccount) -> str:
    """What the certificate the server presents names, fetched without verifying it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        from cryptography import x509
    except ImportError:
        return "its names are shown when the cryptography package is installed"
    try:
        cert = x509.load_der_x509_certificate(_handshake(account, context))
    except (OSError, NoTls, ValueError) as exc:
        return f"the certificate could not be fetched ({type(exc).__name__})"

    def common_name(name: x509.Name) -> str:
        found = name.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        return str(found[0].value) if found else "?"

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = ", ".join(f"DNS:{n}" for n in extension.value.get_values_for_type(x509.DNSName))
        sans += "".join(f", IP:{ip}" for ip in extension.value.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        sans = ""
    return (
        f"the server's certificate: subject CN={common_name(cert.subject)}, issuer "
        f"CN={common_name(cert.issuer)}, SANs {sans.lstrip(', ') or 'none'}"
    )


def tls_check(account: DatabaseAccount) -> Check:
    """Whether the server's certificate verifies for `account` (its CA bundle, its host)."""
    name = "tls"
    if not account.tls.enabled:
        return skipped(name, 'the secret says "ssl": false (plaintext by its own choice)')
    if account.engine not in PREAMBLES:
        return skipped(name, f"no TLS probe for engine {account.engine!r} (login checks TLS)")
    try:
        bundle = account.tls.ca_path()
        cert = _handshake(account, account.tls.context())
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or exc.reason or str(exc)
        return failed(
            name,
            f"{account.host}:{account.port}'s certificate does not verify against {bundle} "
            f"for host {account.host} ({why}); {_unverified_names(account)}",
            f"name the CA that signed it in 'sslrootcert' (or {CA_BUNDLE_ENV}), and connect by "
            "a host name the certificate names",
        )
    except NoTls as exc:
        return failed(
            name,
            f"{account.host}:{account.port}: {exc}",
            'turn TLS on at the server (smrotate never downgrades; "ssl": false only on a '
            "trusted network)",
        )
    except (OSError, SmrotateError) as exc:
        return failed(
            name,
            f"TLS with {account.host}:{account.port} failed: {type(exc).__name__}: {exc}",
            "check the server's TLS settings and the CA bundle",
        )
    return passed(name, f"verified against {bundle}: {_names(cert)}")
