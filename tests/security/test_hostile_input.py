"""A corpus of malformed, oversized and hostile requests over real HTTP: never a 5xx, a crash or a
hang; each is a 4xx in OpenAI's error shape, or a 200 where the input is legitimately valid.
The gateway here has a 256 KiB body limit."""
from __future__ import annotations

import socket

import httpx
import orjson
import pytest

from .conftest import AUTH

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def j(**body) -> bytes:
    return orjson.dumps({"model": "sec/chat", "messages": HI, "max_tokens": 3, **body})


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BAD = 400
OK_OR_BAD = (200, 400)
CORPUS: list[tuple[str, str, bytes, int | tuple[int, ...]]] = [
    # not JSON, or not an object
    ("empty body", CHAT, b"", BAD),
    ("truncated", CHAT, b'{"model": "sec/chat", "messa', BAD),
    ("top-level array", CHAT, b"[1,2,3]", BAD),
    ("top-level string", CHAT, b'"hello"', BAD),
    ("top-level null", CHAT, b"null", BAD),
    ("NaN literal", CHAT, j()[:-1] + b',"temperature":NaN}', BAD),
    ("Infinity literal", CHAT, j()[:-1] + b',"temperature":Infinity}', BAD),
    ("-Infinity max_tokens", CHAT, j()[:-1] + b',"max_tokens":-Infinity}', BAD),
    ("invalid UTF-8", CHAT, b'{"model":"sec/chat","messages":[{"role":"user","content":"\xff\xfe\xfd"}]}', BAD),
    ("overlong UTF-8", CHAT, b'{"model":"sec/chat","messages":[{"role":"user","content":"\xc0\xaf"}]}', BAD),
    ("lone surrogate escape", CHAT, b'{"model":"sec/chat","messages":[{"role":"user","content":"\\ud800"}]}',
     OK_OR_BAD),
    ("raw NUL byte in JSON", CHAT, b'{"model":"sec/chat\x00","messages":[]}', BAD),
    ("trailing garbage", CHAT, j() + b"}}}", BAD),
    ("deep array nesting", CHAT, b'{"model":"sec/chat","messages":' + b"[" * 50_000 + b"]" * 50_000 + b"}", BAD),
    ("deep object nesting", CHAT, nested(20_000), BAD),
    # valid JSON, deep where the schema allows anything (extra fields are forwarded upstream)
    ("nested extra field, depth 200", CHAT, j(metadata=orjson.loads(nested(200))), OK_OR_BAD),
    ("nested extra field, depth 1000", CHAT, j()[:-1] + b',"vendor_x":' + nested(1000) + b"}", OK_OR_BAD),
    ("nested message field, depth 600", CHAT,
     b'{"model":"sec/chat","max_tokens":3,"messages":[{"role":"user","content":"hi","x":' + nested(600) + b"}]}",
     OK_OR_BAD),
    ("nested tool schema, depth 500", CHAT,
     j(tools=[{"type": "function", "function": {"name": "f", "parameters": orjson.loads(nested(200))}}]), OK_OR_BAD),
    # numbers out of every range
    ("integer beyond 64 bits", CHAT, j()[:-1] + b',"seed":123456789012345678901234567890}', OK_OR_BAD),
    ("float beyond double", CHAT, j()[:-1] + b',"temperature":1e999}', BAD),
    ("negative max_tokens", CHAT, j(max_tokens=-1), BAD),
    ("zero max_tokens", CHAT, j(max_tokens=0), BAD),
    ("enormous max_tokens", CHAT, j(max_tokens=10**15), BAD),
    ("max_tokens just allowed", CHAT, j(max_tokens=10_000_000), (200, 400, 402, 404)),
    ("max_tokens as float", CHAT, j(max_tokens=3.5), BAD),
    # forwarded as sent: the upstream (like OpenAI) rejects the type, and its 400 is passed on
    ("max_tokens as string", CHAT, j(max_tokens="3"), OK_OR_BAD),
    ("huge n", CHAT, j(n=10**9), BAD),
    ("temperature 1e308", CHAT, j(temperature=1e308), BAD),
    ("seed 2**63", CHAT, j(seed=2**63 - 1), OK_OR_BAD),
    # wrong types
    ("messages is an object", CHAT, j(messages={"role": "user"}), BAD),
    ("messages of strings", CHAT, j(messages=["hi"]), BAD),
    ("message without role", CHAT, j(messages=[{"content": "hi"}]), BAD),
    ("content is a number", CHAT, j(messages=[{"role": "user", "content": 42}]), BAD),
    ("content parts not objects", CHAT, j(messages=[{"role": "user", "content": [1, 2]}]), BAD),
    ("content part without type", CHAT, j(messages=[{"role": "user", "content": [{"text": "x"}]}]), BAD),
    ("model is a number", CHAT, j(model=123), BAD),
    ("model is null", CHAT, j(model=None), BAD),
    ("models is a string", CHAT, j(models="sec/chat"), BAD),
    ("stream is an object", CHAT, j(stream={"on": True}), BAD),
    ("provider is a list", CHAT, j(provider=["alpha"]), BAD),
    ("provider.order of numbers", CHAT, j(provider={"order": [1, 2]}), BAD),
    ("provider unknown field", CHAT, j(provider={"base_url": "http://169.254.169.254/"}), BAD),
    ("max_price negative", CHAT, j(provider={"max_price": {"prompt": -1}}), BAD),
    ("tools is a string", CHAT, j(tools="all of them"), BAD),
    ("stop is a number", CHAT, j(stop=5), BAD),
    # sizes
    ("huge string over the limit", CHAT, j(messages=[{"role": "user", "content": "x" * 300_000}]), 413),
    ("huge string under the limit", CHAT, j(messages=[{"role": "user", "content": "word " * 40_000}]),
     (200, 404)),
    ("10,001 messages", CHAT, j(messages=[{"role": "user"}] * 10_001), BAD),
    ("5,000 tiny messages", CHAT, j(messages=[{"role": "user", "content": "a"}] * 5_000), (200, 404)),
    ("3,000 tools", CHAT, j(tools=[{"type": "function", "function": {"name": f"f{i}"}} for i in range(3000)]),
     (200, 400, 404)),
    ("33 fallback models", CHAT, j(models=["sec/chat"] * 33), BAD),
    ("100,000-entry provider.order", CHAT, j(provider={"order": ["x"] * 20_000}), OK_OR_BAD),
    ("10,000-char model name", CHAT, j(model="m" * 10_000), BAD),
    # names, unicode, control characters
    ("unicode model name", CHAT, j(model="模型/测试"), 404),
    ("emoji model name", CHAT, j(model="🦙/llama"), 404),
    ("right-to-left override in model", CHAT, j(model="sec/chat\u202e"), 404),
    ("escaped NUL in model", CHAT, j(model="sec/chat\u0000"), 404),
    ("CRLF in model", CHAT, j(model="sec/chat\r\nSet-Cookie: pwned=1"), 404),
    ("path traversal in model", CHAT, j(model="../../etc/passwd"), 404),
    ("escaped NUL in content", CHAT, j(messages=[{"role": "user", "content": "a\u0000b"}]), 200),
    ("only a variant suffix", CHAT, j(model=":nitro"), (400, 404)),
    ("duplicate keys (last wins)", CHAT, b'{"model":"nobody/none","model":"sec/chat","max_tokens":3,"messages":'
     b'[{"role":"user","content":"hi"}]}', 200),
    # the other endpoints
    ("completion prompt of numbers", "/v1/completions", orjson.dumps({"model": "sec/chat", "prompt": [1, 2]}),
     OK_OR_BAD),
    ("completion empty prompt", "/v1/completions", orjson.dumps({"model": "sec/chat", "prompt": ""}), BAD),
    ("embedding input of huge ints", "/v1/embeddings",
     b'{"model":"sec/embed","input":[[1,2,99999999999999999999999]]}', OK_OR_BAD),
    ("embedding input empty list", "/v1/embeddings", orjson.dumps({"model": "sec/embed", "input": []}), BAD),
    ("embedding dimensions 0", "/v1/embeddings", orjson.dumps({"model": "sec/embed", "input": "x", "dimensions": 0}),
     BAD),
    ("embedding input nested objects", "/v1/embeddings", orjson.dumps({"model": "sec/embed", "input": [{"a": 1}]}),
     BAD),
    ("billing body with extra field", "/v1/keys", orjson.dumps({"name": "x", "admin": True}), BAD),
    ("billing amount NaN", "/v1/credits", b'{"account":"a","amount":"NaN"}', BAD),
    ("billing amount huge", "/v1/credits", b'{"account":"a","amount":"1e400"}', BAD),
    ("billing amount negative (a correction)", "/v1/credits", b'{"account":"a","amount":-5}', 200),
    ("billing amount beyond int64 nanos", "/v1/credits", b'{"account":"a","amount":"99999999999"}', BAD),
    ("key limit huge", "/v1/keys", b'{"name":"x","limit":"1e400"}', BAD),
    ("key limit NaN", "/v1/keys", b'{"name":"x","limit":"NaN"}', BAD),
    ("billing name with NUL", "/v1/keys", orjson.dumps({"name": "a\u0000b"}), (201, 400)),
    ("byok key 1 MB", "/v1/byok", orjson.dumps({"provider": "alpha", "key": "k" * 200_000}), (201, 400, 413)),
    ("byok provider path", "/v1/byok", orjson.dumps({"provider": "../alpha", "key": "k" * 20}), BAD),
]


@pytest.mark.parametrize("name, path, raw, expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_body(gateway, name, path, raw, expected):
    response = httpx.post(gateway.url + path, content=raw, timeout=15,
                          headers={**AUTH, "content-type": "application/json"})
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] == response.status_code and isinstance(error["message"], str)
        assert len(response.content) < 20_000  # errors never echo a huge input back
    assert "set-cookie" not in response.headers


def test_gateway_still_healthy_after_the_corpus(gateway):
    assert httpx.get(gateway.url + "/health").status_code == 200
    answer = httpx.post(gateway.url + CHAT, content=j(), headers=AUTH)
    assert answer.status_code == 200


def _raw_http(gateway, request: bytes, read_timeout_s: float = 10.0) -> bytes:
    """Send bytes as they are (no client library to tidy them up) and return the reply."""
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout_s) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _post(headers: bytes, body: bytes = b"", length: bool = True) -> bytes:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" + headers
    if length:
        head += b"content-length: %d\r\n" % len(body)
    return head + b"\r\n" + body


AUTH_LINE = b"authorization: " + AUTH["authorization"].encode() + b"\r\n"


@pytest.mark.parametrize("name, request_bytes", [
    ("NUL in a header value", _post(b"authorization: Bearer x\x00y\r\n", j())),
    ("bare LF header injection", _post(b"authorization: Bearer x\nX-Injected: 1\r\n", j())),
    ("CR inside a header value", _post(b"authorization: Bearer x\rSet-Cookie: a=b\r\n", j())),
    ("64 KiB header", _post(AUTH_LINE + b"x-pad: " + b"a" * 65536 + b"\r\n", j())),
    ("2,000 headers", _post(AUTH_LINE + b"".join(b"x-h%d: v\r\n" % i for i in range(2000)), j())),
    ("non-numeric content-length", _post(AUTH_LINE + b"content-length: ten\r\n", j(), length=False)),
    ("negative content-length", _post(AUTH_LINE + b"content-length: -5\r\n", j(), length=False)),
    ("content-length far over the limit", _post(AUTH_LINE + b"content-length: 99999999999\r\n", b"{}",
                                                length=False)),
    ("two content-lengths", _post(AUTH_LINE + b"content-length: 5\r\ncontent-length: 500\r\n", j(), length=False)),
    ("obsolete line folding", _post(b"authorization: Bearer\r\n  folded\r\n", j())),
    ("unicode in authorization", _post("authorization: Bearer clé-🔑\r\n".encode(), j())),
])
def test_hostile_http_framing_gets_a_4xx_and_no_hang(gateway, name, request_bytes):
    reply = _raw_http(gateway, request_bytes)
    status_line = reply.split(b"\r\n", 1)[0]
    # uvicorn answers most framing errors with a 400 and hangs up on oversized headers without a word
    assert reply == b"" or status_line.startswith(b"HTTP/1.1 4"), (name, reply[:300])
    assert b"x-injected" not in reply.lower() and b"set-cookie" not in reply.lower()
    assert httpx.get(gateway.url + "/health").status_code == 200


def test_chunked_body_over_the_limit_is_cut_off_with_413(gateway):
    """No content-length: the limit is enforced while the body streams in, not after it is all read."""
    def chunks():
        yield j(messages=[{"role": "user", "content": ""}])[:-2]
        for _ in range(100):
            yield b" " * 8192  # 800 KiB of whitespace, legal inside JSON
        yield b"}"

    response = httpx.post(gateway.url + CHAT, content=chunks(), headers=AUTH, timeout=15)
    assert response.status_code == 413 and response.json()["error"]["code"] == 413


def test_declared_oversize_is_refused_before_the_body_is_read(gateway):
    """A content-length over the limit is answered at once, without waiting for 100 MB to arrive."""
    request = _post(AUTH_LINE + b"content-length: 100000000\r\n", b"{", length=False)
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)  # and keep the connection open: the server must not wait for the rest
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("path", ["/v1/byok", "/v1/keys", "/v1/credits"])
def test_billing_bodies_have_a_size_limit_too(gateway, path):
    """Any key may POST /v1/byok: a 5 MB body must be refused, not buffered and stored."""
    body = orjson.dumps({"provider": "alpha", "key": "k" * 5_000_000})
    response = httpx.post(gateway.url + path, content=body, headers={**AUTH, "content-type": "application/json"},
                          timeout=15)
    assert response.status_code == 413 and response.json()["error"]["code"] == 413


@pytest.mark.parametrize("path", [
    "/marketplace/api/models/sec/chat/history?minutes=-1",
    "/marketplace/api/models/sec/chat/history?minutes=99999999999999999999",
    "/marketplace/api/models/sec/chat/history?minutes=NaN",
    "/marketplace/api/models/sec/chat/history?minutes=1e308",
    "/marketplace/api/models/..%2F..%2Fetc%2Fpasswd",
    "/marketplace/api/models/%00",
    "/marketplace/api/models/" + "a/" * 2000,
    "/marketplace/static/..%2F..%2Frouter%2Fsettings.py",
    "/marketplace/static/../../pyproject.toml",
    "/v1/models/%E6%A8%A1/%F0%9F%A6%99/endpoints",
    "/v1/models/%ff%fe/x/endpoints",
    "/v1/generation?id=%00%0d%0aSet-Cookie:x",
    "/v1/generation?id=" + "g" * 20_000,
    "/v1/keys?account=%00",
    "/models/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
])
def test_hostile_paths_and_queries(gateway, path):
    response = httpx.get(gateway.url + path, headers=AUTH, timeout=15)
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    assert "set-cookie" not in response.headers
    assert b"[tool.pytest" not in response.content and b"master_key" not in response.content  # no file escaped
