"""Request bodies are bounded before they are read, by the served daphne itself
(``statsbridge.bodies``): a huge anonymous upload, declared or streamed, is answered 413
at once and dropped, the process does not grow, and ``/healthz`` keeps answering. Only a
staff session gets the import page's larger limit.

Without the bounded request class, daphne reads every byte into memory first (a 100 MB
POST grew the process by over a gigabyte), and Django answers 403 (CSRF) or 405 after.
"""

import asyncio
import time

import aiohttp
import pytest

from tests.security.served import serving

MB = 1024 * 1024
DEFAULT_LIMIT = 4 * MB  # the documented default of REQUEST_BODY_MAX_BYTES
IMPORT_PATH = "/admin/dashboard/dashboard/import/"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``manage.py serve`` with the default limits."""
    with serving(tmp_path_factory.mktemp("bodies")) as server:
        yield server


async def upload(port: int, path: str, total: int, *, chunked: bool = False, cookie: str = "") -> dict:
    """POST ``total`` bytes to ``path`` (declared, or streamed in chunks), reading the answer as it
    comes; returns the status, how many body bytes were written, and whether the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n"
    head += f"Cookie: {cookie}\r\n" if cookie else ""
    writer.write(head.encode() + b"\r\n")
    sent = 0

    async def send():
        nonlocal sent
        block = b"x" * MB
        try:
            while sent < total:
                writer.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
                await writer.drain()
                sent += len(block)
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except OSError:  # the server cut the connection: it stopped reading
            pass

    sender = asyncio.create_task(send())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        status = int(head.split(b" ", 2)[1])
        try:
            rest = await asyncio.wait_for(reader.read(), 30)
            closed = True
        except (TimeoutError, OSError):
            rest, closed = b"", False
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    return {"status": status, "sent": sent, "closed": closed, "body": rest}


async def healthz(port: int) -> int:
    """``GET /healthz`` status (the process still serves)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as answer,
    ):
        return answer.status


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
async def test_a_100_mb_anonymous_upload_gets_413_and_the_process_does_not_grow(served, chunked):
    assert await healthz(served.port) == 200
    before = served.rss_kb()
    peak = before
    uploading = asyncio.create_task(upload(served.port, "/healthz", 100 * MB, chunked=chunked))
    # While the upload runs, the process keeps answering, each in well under a second, and
    # its memory is sampled for the peak.
    while not uploading.done():
        started = time.monotonic()
        assert await healthz(served.port) == 200
        assert time.monotonic() - started < 1.0
        peak = max(peak, served.rss_kb())
        await asyncio.sleep(0.02)
    answer = uploading.result()
    grown_mb = (max(peak, served.rss_kb()) - before) / 1024
    assert answer["status"] == 413
    assert answer["closed"], "the connection must be closed after the 413"
    assert b"too large" in answer["body"]
    assert grown_mb < 20, f"the process grew by {grown_mb:.1f} MB"
    assert await healthz(served.port) == 200
    assert "refused a request body" in served.log.read_text()


async def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_read(served):
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {DEFAULT_LIMIT + 1}\r\n\r\n"
                 .encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")


async def test_a_streamed_body_just_over_the_limit_and_complete_in_one_write_is_refused(served):
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    body = b"y" * (DEFAULT_LIMIT + 1)
    writer.write(b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert await asyncio.wait_for(reader.read(), 20) == b"Request body too large.\n"
    writer.close()
    assert await healthz(served.port) == 200


async def test_a_body_within_the_limit_reaches_django(served):
    answer = await upload(served.port, "/accounts/login/", DEFAULT_LIMIT - MB)
    assert answer["status"] == 403  # Django's CSRF check: the body was read and handed over


async def test_the_import_limit_is_for_staff_only(served):
    anonymous = await upload(served.port, IMPORT_PATH, 8 * MB)
    assert anonymous["status"] == 413
    staff = await upload(served.port, IMPORT_PATH, 8 * MB, cookie=f"sessionid={served.seed['session']}")
    # Over the default limit, within the import's: a staff session's body reaches Django (whose
    # CSRF check answers a POST without a token).
    assert staff["status"] == 403
    elsewhere = await upload(served.port, "/admin/", 8 * MB, cookie=f"sessionid={served.seed['session']}")
    assert elsewhere["status"] == 413
