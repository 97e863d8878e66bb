"""Header filtering and admission of the proxy: pure functions and the policy object."""

from __future__ import annotations

from app.config import parse_config
from app.metrics import Metrics
from app.proxy.headers import request_headers, response_headers
from app.proxy.policy import MIB, ROUTES, Admission, ProxyLimits, ProxyPolicy, Refusal
from app.services.registry import ServiceRegistry


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    sent = [
        (b"Host", b"spark-control.local"),
        (b"Connection", b"keep-alive, X-Private"),
        (b"X-Private", b"secret"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Type", b"application/json"),
        (b"Authorization", b"Bearer k"),
    ]
    assert request_headers(sent) == [
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer k"),
    ]


def test_response_headers_keep_length_and_encoding_add_no_buffering_once() -> None:
    got = response_headers(
        [
            (b"content-length", b"12"),
            (b"content-encoding", b"gzip"),
            (b"x-accel-buffering", b"yes"),
            (b"server", b"uvicorn"),
            (b"Access-Control-Allow-Credentials", b"true"),
        ]
    )
    assert got == [
        (b"content-length", b"12"),
        (b"content-encoding", b"gzip"),
        (b"x-accel-buffering", b"no"),
    ]


class SwapFlagStub:
    """The served model's swap flag, fixed."""

    def __init__(self, swapping: bool) -> None:
        self.swapping = swapping


def policy(swapping: bool = False, **config: object) -> ProxyPolicy:
    data = {
        "sparks": [{"name": "spark1", "host": "10.0.0.1"}, {"name": "spark2", "host": "10.0.0.2"}]
    }
    cfg = parse_config({**data, **config}, {})
    return ProxyPolicy(
        ServiceRegistry(cfg), SwapFlagStub(swapping), Metrics(), ProxyLimits(upload_bytes=MIB)
    )


def test_routes_go_to_their_service() -> None:
    p = policy()
    chat = p.admit(ROUTES["/v1/chat/completions"], "POST", 10)
    assert isinstance(chat, Admission) and chat.url == "http://10.0.0.1:8888/v1/chat/completions"
    speech = p.admit(ROUTES["/v1/audio/speech"], "POST", 10)
    assert isinstance(speech, Admission) and speech.url == "http://10.0.0.2:8880/v1/audio/speech"
    assert speech.body_limit == MIB and chat.body_limit == 16 * MIB


def test_refusals_in_order() -> None:
    disabled = policy(services={"disabled": ["vllm"]}).admit(ROUTES["/v1/models"], "GET", None)
    assert isinstance(disabled, Refusal) and disabled.status == 404
    swapping = policy(swapping=True)
    refused = swapping.admit(ROUTES["/v1/completions"], "POST", 1)
    assert isinstance(refused, Refusal) and refused.status == 503
    assert isinstance(swapping.admit(ROUTES["/v1/embeddings"], "POST", 1), Admission)
    big = policy().admit(ROUTES["/v1/audio/transcriptions"], "POST", MIB + 1)
    assert isinstance(big, Refusal) and big.status == 413
    wrong = policy().admit(ROUTES["/v1/models"], "POST", None)
    assert isinstance(wrong, Refusal) and wrong.status == 405


def test_audio_cap_counts_admissions_and_releases() -> None:
    p = policy()
    route = ROUTES["/v1/audio/diarize"]
    first, second = p.admit(route, "POST", 1), p.admit(route, "POST", 1)
    third = p.admit(route, "POST", 1)
    assert isinstance(third, Refusal) and third.status == 429 and third.retry_after
    assert isinstance(p.admit(ROUTES["/v1/audio/transcriptions"], "POST", 1), Admission)
    assert isinstance(first, Admission) and isinstance(second, Admission)
    p.release(first)
    assert isinstance(p.admit(route, "POST", 1), Admission)
