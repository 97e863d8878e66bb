"""Fake audio, embeddings and vector-database services of the second Spark (raw ASGI).

What the real ones are on a Spark cluster, reduced to what Spark Control's proxy, probes and
dashboard touch:

* ``parakeet`` (ASR with diarization): ``GET /health``; ``POST /v1/audio/transcriptions``
  (multipart, a ``file`` part) → ``{"text": …}`` (or plain text for
  ``response_format=text``); ``POST /v1/audio/diarize`` and ``/v1/audio/diarize-chunk``
  (multipart) → ``{"segments": [{start, end, speaker, text}], "speakers": […]}``.
* ``kokoro`` (TTS): ``GET /health``; ``POST /v1/audio/speech`` JSON ``{input, voice?,
  response_format?: wav|pcm}`` → a short 24 kHz mono tone, streamed in chunks.
* ``embeddings``: ``GET /health``, ``GET /v1/models``; ``POST /v1/embeddings`` in OpenAI
  format (``encoding_format`` ``float`` or ``base64``, as the openai SDK asks by default).
* ``qdrant``: ``GET /healthz``, ``/readyz``, ``/`` and ``GET /collections``.

Errors are OpenAI-shaped (``{"error": {message, type, code}}``). Every app counts its work
(POST) requests in ``stats = {requests, in_flight, bytes_received}``, and
:meth:`FakeService.hold` makes them wait (after their body is read) until
:meth:`FakeService.release`: tests use it to keep requests in flight without sleeping. GETs
(health probes, listings) are neither counted nor held, so probes never disturb a test.

``service_server.ServiceServer`` serves one of these apps over HTTP.
"""

from __future__ import annotations

import array
import asyncio
import base64
import hashlib
import io
import math
import random
import re
import struct
import wave
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Scope, bytes, Send], Awaitable[None]]

MAX_BODY = 512 * 1024 * 1024
EMBEDDING_DIM = 384
SAMPLE_RATE = 24000
CHUNK = 8192
_JSON = (b"content-type", b"application/json")


class FakeError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, status: int, payload: Any) -> None:
    await respond(send, status, msgspec.json.encode(payload), _JSON[1])


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """``(fields, files)`` of a ``multipart/form-data`` body. Raises FakeError(400)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        raise FakeError(400, "Expected a multipart/form-data body.")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        disposition = re.search(rb'name="([^"]*)"', head)
        if not disposition:
            continue
        name = disposition.group(1).decode()
        if b"filename=" in head:
            files[name] = content
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def tone_wav(seconds: float) -> bytes:
    """A quiet 440 Hz tone as a 16-bit mono WAV."""
    samples = array.array(
        "h",
        (
            int(3000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE))
            for i in range(int(seconds * SAMPLE_RATE))
        ),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def embed(text: str) -> list[float]:
    """A deterministic unit vector of ``EMBEDDING_DIM`` floats for ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeService:
    """Raw ASGI base: routes ``(method, path) → handler(scope, body, send)``."""

    name = "service"
    health_path = "/health"

    def __init__(self) -> None:
        self.stats = {"requests": 0, "in_flight": 0, "bytes_received": 0}
        self._gate: asyncio.Event | None = None
        self.routes: dict[tuple[str, str], Handler] = {("GET", self.health_path): self._health}

    def hold(self) -> None:
        """Make requests wait after their body is read until :meth:`release`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def _health(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond_json(send, 200, {"status": "ok"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        handler = self.routes.get((scope["method"], scope["path"]))
        try:
            if handler is None:
                known = any(path == scope["path"] for _, path in self.routes)
                raise FakeError(405 if known else 404, "Not found.", "not_found_error")
            body = await self._read(receive)
            if scope["method"] != "POST":
                await handler(scope, body, send)
                return
            self.stats["requests"] += 1
            self.stats["in_flight"] += 1
            try:
                if self._gate is not None:
                    await self._gate.wait()
                await handler(scope, body, send)
            finally:
                self.stats["in_flight"] -= 1
        except FakeError as err:
            error = {"message": err.message, "type": err.kind, "code": err.status}
            await respond_json(send, err.status, {"error": error})

    async def _read(self, receive: Receive) -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise FakeError(400, "Client disconnected.")
            chunk = message.get("body", b"")
            body += chunk
            self.stats["bytes_received"] += len(chunk)
            if len(body) > MAX_BODY:
                raise FakeError(413, "Request body too large.")
            if not message.get("more_body"):
                return bytes(body)


def _content_type(scope: Scope) -> str:
    return dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise FakeError(400, "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FakeError(400, "Request body must be a JSON object.")
    return data


class FakeAsr(FakeService):
    """Parakeet-like speech to text with speaker diarization."""

    name = "parakeet"
    model = "nvidia/parakeet-tdt-0.6b-v2"

    def __init__(self) -> None:
        super().__init__()
        self.routes[("POST", "/v1/audio/transcriptions")] = self._transcribe
        self.routes[("POST", "/v1/audio/diarize")] = self._diarize
        self.routes[("POST", "/v1/audio/diarize-chunk")] = self._diarize

    def _audio(self, scope: Scope, body: bytes) -> tuple[dict[str, str], bytes]:
        fields, files = parse_multipart(_content_type(scope), body)
        if "file" not in files:
            raise FakeError(400, "Field required: file")
        return fields, files["file"]

    async def _transcribe(self, scope: Scope, body: bytes, send: Send) -> None:
        fields, audio = self._audio(scope, body)
        text = f"Simulated transcript of {len(audio)} bytes of audio."
        if fields.get("response_format") == "text":
            await respond(send, 200, text.encode(), b"text/plain; charset=utf-8")
            return
        await respond_json(send, 200, {"text": text})

    async def _diarize(self, scope: Scope, body: bytes, send: Send) -> None:
        fields, audio = self._audio(scope, body)
        offset = float(fields.get("offset", 0) or 0)
        # Pretend 32 kB per second of audio, two speakers taking turns every 2.5 s.
        duration = max(1.0, len(audio) / 32000)
        segments, start, turn = [], 0.0, 0
        while start < duration and len(segments) < 200:
            end = min(duration, start + 2.5)
            segments.append(
                {
                    "start": round(offset + start, 2),
                    "end": round(offset + end, 2),
                    "speaker": f"SPEAKER_{turn % 2:02d}",
                    "text": f"Segment {len(segments) + 1}.",
                }
            )
            start, turn = end, turn + 1
        speakers = sorted({s["speaker"] for s in segments})
        result: dict[str, Any] = {"segments": segments, "speakers": speakers}
        if "chunk_index" in fields:
            result["chunk_index"] = int(fields["chunk_index"] or 0)
        await respond_json(send, 200, result)


class FakeTts(FakeService):
    """Kokoro-like text to speech: a tone as long as the text would take to say."""

    name = "kokoro"

    def __init__(self) -> None:
        super().__init__()
        self.routes[("POST", "/v1/audio/speech")] = self._speech

    async def _speech(self, scope: Scope, body: bytes, send: Send) -> None:
        data = _json_body(body)
        text = data.get("input")
        if not isinstance(text, str) or not text.strip():
            raise FakeError(400, "Field required: input")
        fmt = data.get("response_format", "wav")
        if fmt not in ("wav", "pcm"):
            raise FakeError(400, f"Unsupported response_format {fmt!r}; use wav or pcm.")
        audio = tone_wav(min(10.0, 0.06 * len(text)))
        if fmt == "pcm":
            audio = audio[44:]  # the raw samples behind the canonical 44-byte WAV header
        media = b"audio/wav" if fmt == "wav" else b"audio/pcm"
        headers = [(b"content-type", media), (b"content-length", str(len(audio)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(audio), CHUNK):  # streamed, as Kokoro streams its audio
            await send(
                {
                    "type": "http.response.body",
                    "body": audio[start : start + CHUNK],
                    "more_body": start + CHUNK < len(audio),
                }
            )


class FakeEmbeddings(FakeService):
    """An OpenAI-compatible embeddings server (deterministic 384-dim unit vectors)."""

    name = "embeddings"
    model = "sim-embed-384"

    def __init__(self) -> None:
        super().__init__()
        self.routes[("POST", "/v1/embeddings")] = self._embeddings
        self.routes[("GET", "/v1/models")] = self._models

    async def _models(self, scope: Scope, body: bytes, send: Send) -> None:
        card = {"id": self.model, "object": "model", "created": 0, "owned_by": "sparksim"}
        await respond_json(send, 200, {"object": "list", "data": [card]})

    async def _embeddings(self, scope: Scope, body: bytes, send: Send) -> None:
        data = _json_body(body)
        raw = data.get("input")
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            texts = raw
        else:
            raise FakeError(400, "input must be a string or a non-empty list of strings.")
        b64 = data.get("encoding_format") == "base64"
        items = []
        for index, text in enumerate(texts):
            vector: Any = embed(text)
            if b64:
                vector = base64.b64encode(struct.pack(f"<{EMBEDDING_DIM}f", *vector)).decode()
            items.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(max(1, len(t.split())) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        await respond_json(
            send, 200, {"object": "list", "data": items, "model": self.model, "usage": usage}
        )


class FakeQdrant(FakeService):
    """Qdrant's probe and listing endpoints."""

    name = "qdrant"
    health_path = "/healthz"
    collections = ("notes", "transcripts")

    def __init__(self) -> None:
        super().__init__()
        self.routes[("GET", "/readyz")] = self._health_text
        self.routes[("GET", "/healthz")] = self._health_text
        self.routes[("GET", "/")] = self._root
        self.routes[("GET", "/collections")] = self._collections

    async def _health_text(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond(send, 200, b"healthz check passed", b"text/plain; charset=utf-8")

    async def _root(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond_json(
            send, 200, {"title": "qdrant - vector search engine", "version": "1.12.0-sparksim"}
        )

    async def _collections(self, scope: Scope, body: bytes, send: Send) -> None:
        result = {"collections": [{"name": n} for n in self.collections]}
        await respond_json(send, 200, {"result": result, "status": "ok", "time": 1e-05})


FAKES: dict[str, type[FakeService]] = {
    "parakeet": FakeAsr,
    "kokoro": FakeTts,
    "embeddings": FakeEmbeddings,
    "qdrant": FakeQdrant,
}
