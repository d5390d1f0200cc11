#!/usr/bin/env python3
"""The fastest a SOCKS5 client can be: greeting, CONNECT (by name) and an HTTP GET written in
one send, then the time to the first byte of the HTTP answer. Nothing waits for a reply
before sending, so this is the protocol's limit, the baseline for bench/firstbyte.

    onewrite.py SOCKS_HOST:PORT NAME [PORT]

Prints the seconds from before the TCP connect to the first byte of the HTTP answer (the
same span as curl's %{time_starttransfer}); exits 1 if the proxy refuses or the answer is not
HTTP.
"""
import socket
import struct
import sys
import time


def main():
    proxy, name = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 80
    host, _, pport = proxy.rpartition(":")
    request = (
        b"\x05\x01\x00"  # greeting: version 5, one method, no authentication
        + b"\x05\x01\x00\x03"  # CONNECT, reserved, a domain name follows
        + bytes([len(name)])
        + name.encode()
        + struct.pack(">H", port)
        + f"GET / HTTP/1.0\r\nHost: {name}\r\n\r\n".encode()
    )
    start = time.monotonic()
    s = socket.create_connection((host, int(pport)), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(request)
    # Method reply (2 bytes) and the CONNECT reply (10 bytes for an IPv4 bound address,
    # which is what tor and arti send), then the HTTP answer.
    got = b""
    while len(got) < 13:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"onewrite: the proxy closed after {got!r}")
        got += chunk
        if len(got) >= 4 and got[3] != 0:
            sys.exit(f"onewrite: CONNECT refused, reply {got[3]}")
    first = time.monotonic()
    if got[:2] != b"\x05\x00" or got[2:4] != b"\x05\x00" or not got[12:].startswith(b"H"):
        sys.exit(f"onewrite: unexpected answer {got[:32]!r}")
    while s.recv(65536):
        pass
    print(f"{first - start:.6f}")


if __name__ == "__main__":
    main()
