"""The simulator's fake audio / embeddings / Qdrant services, talked to directly."""

from __future__ import annotations

import base64
import io
import struct
import wave

import httpx
import pytest

from app.config import parse_config
from app.services.registry import ServiceRegistry
from scripts.sparksim import SparkSim


def url(sim: SparkSim, key: str, path: str) -> str:
    return sim.services[key].url + path


async def test_services_run_on_the_second_node_and_the_config_finds_them(sim: SparkSim) -> None:
    registry = ServiceRegistry(parse_config(sim.config_dict(), env={}))
    assert registry.warnings == []
    async with httpx.AsyncClient(timeout=5) as client:
        for key in ("parakeet", "kokoro", "embeddings", "qdrant"):
            service = registry.get(key)
            assert service is not None and not service.disabled
            assert service.node == "spark2"
            assert service.url == sim.services[key].url
            assert service.url.startswith(f"http://{sim.node('spark2').host}:")
            r = await client.get(service.url + service.health_path)
            assert r.status_code == 200, key


async def test_two_simulators_run_side_by_side(sim: SparkSim, tmp_path) -> None:
    async with SparkSim(tmp_path / "other", load_time=0.3) as other:
        ports = {s.port for s in sim.services.values()} | {s.port for s in other.services.values()}
        assert len(ports) == 8


async def test_transcription_and_diarization(sim: SparkSim) -> None:
    audio = {"file": ("talk.wav", b"\0" * 160000, "audio/wav")}
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.post(url(sim, "parakeet", "/v1/audio/transcriptions"), files=audio)
        assert r.json() == {"text": "Simulated transcript of 160000 bytes of audio."}
        r = await client.post(
            url(sim, "parakeet", "/v1/audio/transcriptions"),
            files=audio,
            data={"response_format": "text"},
        )
        assert r.headers["content-type"].startswith("text/plain")
        r = await client.post(url(sim, "parakeet", "/v1/audio/diarize"), files=audio)
        result = r.json()
        assert result["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
        assert [s["start"] for s in result["segments"]] == [0.0, 2.5]
        r = await client.post(
            url(sim, "parakeet", "/v1/audio/diarize-chunk"),
            files=audio,
            data={"chunk_index": "3", "offset": "30"},
        )
        assert r.json()["chunk_index"] == 3 and r.json()["segments"][0]["start"] == 30.0
        r = await client.post(
            url(sim, "parakeet", "/v1/audio/transcriptions"), files={"audio": ("a", b"1")}
        )
        assert r.status_code == 400 and r.json()["error"]["message"] == "Field required: file"


async def test_speech_is_a_wav_file(sim: SparkSim) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.post(url(sim, "kokoro", "/v1/audio/speech"), json={"input": "Hello!"})
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(r.content)) as wav:
            assert wav.getframerate() == 24000 and wav.getnframes() > 0
        r = await client.post(
            url(sim, "kokoro", "/v1/audio/speech"), json={"input": "x", "response_format": "mp3"}
        )
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


async def test_embeddings_float_and_base64_agree(sim: SparkSim) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        endpoint = url(sim, "embeddings", "/v1/embeddings")
        floats = (await client.post(endpoint, json={"input": ["a", "b"]})).json()
        packed = (
            await client.post(endpoint, json={"input": "a", "encoding_format": "base64"})
        ).json()
    assert [d["index"] for d in floats["data"]] == [0, 1]
    vector = floats["data"][0]["embedding"]
    assert len(vector) == 384 and abs(sum(x * x for x in vector) - 1) < 1e-6
    decoded = struct.unpack("<384f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(vector, abs=1e-6)
    assert floats["usage"]["total_tokens"] == 2


async def test_qdrant_health_and_collections(sim: SparkSim) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(url(sim, "qdrant", "/healthz"))).status_code == 200
        r = await client.get(url(sim, "qdrant", "/collections"))
    assert r.json()["status"] == "ok"
    assert [c["name"] for c in r.json()["result"]["collections"]] == ["notes", "transcripts"]


async def test_a_service_can_be_stopped_and_restarted(sim: SparkSim) -> None:
    health = url(sim, "kokoro", "/health")
    async with httpx.AsyncClient(timeout=5) as client:
        await sim.stop_service("kokoro")
        with pytest.raises(httpx.ConnectError):
            await client.get(health)
        await sim.start_service("kokoro")
        assert (await client.get(health)).status_code == 200
