"""No secret leaves where it belongs: a run with real-looking keys, then every output is scanned.

The gateway runs as `switchyard serve` in a child process with debug logging. It holds a master
key, user keys, a BYOK key, provider keys from the environment and the Fernet secret; one upstream
echoes the key it was sent in its error messages, as real providers do. Afterwards the captured
log, every response (bodies and headers), /metrics, the DuckDB telemetry file and the billing
store are searched for each secret.
"""
from __future__ import annotations

import hashlib

import duckdb
import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router.billing import Billing
from router.demo import Behaviour, DemoProviders
from tests.conftest import ServerThread
from tests.reliability.harness import FAST, GatewayProcess

MASTER = "sk-sy-leakcheck-master-Hq3Vn8Zr2Lw6Tc0Y"
ALPHA_ENV_KEY = "gsk_live_8hD2kP0qW7eR5tY1uI3oA9sFxC4v"
ECHO_ENV_KEY = "prov-echo-Zx81Lq0Vm3Nc7Bd5Ks2Pj9"
BYOK_KEY = "byok-beta-Q7f3kLm9Pz2xR8wT4vN6yU1e"
BYOK_ECHO_KEY = "byok-echo-Mv4Hs9Xa1Rk7Wd3Gb6Nz"
WRONG_KEY = "sk-sy-typo-Jd8Kf2Lp5Qw9Er3Ty6Ui0"
FERNET = Fernet.generate_key().decode()


def _echo_app() -> Starlette:
    """An upstream that quotes the presented key back, like OpenAI's 'Incorrect API key provided'."""
    async def chat(request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        body = orjson.loads(await request.body())
        status = 400 if body.get("temperature") == 1.5 else 401  # 400: passed on to the client as is
        return JSONResponse({"error": {"message": f"Incorrect API key provided: {key}. Check your API key {key}",
                                       "type": "invalid_request_error", "code": "invalid_api_key"}}, status)
    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Drive varied traffic through the gateway, stop it, and return everything it produced."""
    data_dir = tmp_path_factory.mktemp("leak")
    behaviours = {"alpha": Behaviour(**FAST), "beta": Behaviour(**FAST)}
    outputs: list[str] = []
    with DemoProviders(behaviours) as demo, ServerThread(_echo_app()) as echo:
        catalog = {
            "providers": {"alpha": {"base_url": demo.base_url("alpha"), "key_env": "ALPHA_API_KEY"},
                          "beta": {"base_url": demo.base_url("beta"), "key_env": "BETA_API_KEY"},
                          "echo": {"base_url": echo.url + "/v1", "key_env": "ECHO_API_KEY"}},
            "models": [{"id": "leak/chat", "endpoints": [
                {"provider": "alpha", "prompt_price": 1e-7, "completion_price": 2e-7},
                {"provider": "beta", "prompt_price": 1e-7, "completion_price": 2e-7},
                {"provider": "echo", "prompt_price": 1e-7, "completion_price": 2e-7}]}]}
        env = {"ALPHA_API_KEY": ALPHA_ENV_KEY, "ECHO_API_KEY": ECHO_ENV_KEY, "SWITCHYARD_SECRET_KEY": FERNET}
        gateway = GatewayProcess(catalog, data_dir, MASTER, env=env, log_level="debug", attempt_timeout_s=2,
                                 request_deadline_s=5)
        with gateway:
            def send(method: str, path: str, key: str = MASTER, **kw) -> httpx.Response:
                response = httpx.request(method, gateway.url + path, headers={"authorization": f"Bearer {key}"},
                                         timeout=10, **kw)
                outputs.append(response.text)
                outputs.append(str(response.headers))
                return response

            created = send("POST", "/v1/keys", json={"name": "user", "account": "acct"}).json()
            user_key = created["key"]
            second_key = send("POST", "/v1/keys", json={"name": "user2", "account": "acct2"}).json()["key"]
            del outputs[:]  # the responses meant to carry a secret: a new key, shown once
            send("POST", "/v1/credits", json={"account": "acct2", "amount": "3"})
            send("POST", "/v1/byok", second_key, json={"provider": "echo", "key": BYOK_ECHO_KEY})
            send("POST", "/v1/credits", json={"account": "acct", "amount": "3"})
            assert send("POST", "/v1/byok", user_key, json={"provider": "beta", "key": BYOK_KEY}).status_code == 201
            chat = {"model": "leak/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
            for provider in ("alpha", "beta", "echo"):
                for stream in (False, True):
                    body = {**chat, "stream": stream, "provider": {"only": [provider]}, "explain": True}
                    send("POST", "/v1/chat/completions", user_key, json=body)
            rejected = send("POST", "/v1/chat/completions", user_key,
                            json={**chat, "temperature": 1.5, "provider": {"only": ["echo"]}})
            fell_back = send("POST", "/v1/chat/completions", user_key,
                             json={**chat, "provider": {"order": ["echo", "alpha"]}, "explain": True})
            send("POST", "/v1/chat/completions", WRONG_KEY, json=chat)
            for stream in (False, True):  # the echo upstream now quotes the caller's own BYOK key
                send("POST", "/v1/chat/completions", second_key,
                     json={**chat, "stream": stream, "provider": {"only": ["echo"]}})
            send("GET", "/v1/key", user_key)
            send("GET", "/v1/keys")
            send("GET", "/v1/byok", user_key)
            send("GET", f"/v1/generation?id={fell_back.json()['id']}")
            send("GET", "/metrics")
            send("GET", "/health")
            send("GET", "/openapi.json")
            exit_code = gateway.terminate()
        log = gateway.log_text()
    return {"data_dir": data_dir, "log": log, "outputs": outputs, "user_key": user_key, "second_key": second_key,
            "exit_code": exit_code,
            "rejected": rejected, "fell_back": fell_back}


def secrets(run) -> dict[str, str]:
    return {"master": MASTER, "user": run["user_key"], "second user": run["second_key"], "byok": BYOK_KEY,
            "byok echo": BYOK_ECHO_KEY, "alpha env": ALPHA_ENV_KEY,
            "echo env": ECHO_ENV_KEY, "wrong key": WRONG_KEY, "fernet": FERNET}


def test_the_run_exercised_the_leaky_paths(run):
    assert run["exit_code"] in (0, -15)
    assert run["rejected"].status_code == 400 and "Incorrect API key provided" in run["rejected"].text
    assert run["fell_back"].status_code == 200 and run["fell_back"].json()["provider"] == "alpha"
    assert len(run["log"]) > 500  # debug logging really was on


def test_no_secret_in_logs_or_responses(run):
    texts = {"log": run["log"], "responses": "\n".join(run["outputs"])}
    for name, secret in secrets(run).items():
        for where, text in texts.items():
            assert secret not in text, f"{name} key found in {where}"
            assert secret[-12:] not in text, f"the tail of the {name} key found in {where}"


def test_no_secret_in_the_telemetry_file(run):
    path = run["data_dir"] / "telemetry.duckdb"
    raw = path.read_bytes()
    with duckdb.connect(str(path), read_only=True) as con:
        n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        text_cells = []
        for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                         "WHERE data_type LIKE 'VARCHAR%'").fetchall():
            text_cells += [str(v) for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()]
    assert n_events >= 8
    cells = "\n".join(text_cells)
    for name, secret in secrets(run).items():
        assert secret.encode() not in raw and secret not in cells, f"{name} key found in telemetry"


def test_keys_hashed_and_byok_encrypted_at_rest(run):
    data_dir = run["data_dir"]
    stored = b"".join(p.read_bytes() for p in data_dir.glob("billing.sqlite*") if not p.name.endswith(".secret"))
    for name, secret in secrets(run).items():
        assert secret.encode() not in stored, f"{name} key stored in clear"
    # What is there instead: the key's SHA-256 for look-up, and the BYOK key only in encrypted form.
    assert hashlib.sha256(run["user_key"].encode()).hexdigest().encode() in stored
    billing = Billing.open(data_dir / "billing.sqlite", master_key=MASTER, secret_key=FERNET, environ={})
    try:
        assert billing.byok_keys("acct") == {"beta": BYOK_KEY}
    finally:
        billing.close()
