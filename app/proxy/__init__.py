"""The OpenAI-compatible proxy: routing and limits (``policy``), admission around swaps —
drain, hold, swap on request (``admission``, with the bytes it puts on the wire in
``swap_answers``), header filtering (``headers``), and the modules that talk to the backends
(``upstream``: the interface and an aiohttp client; ``h1``: the lean HTTP/1.1 client used by
default)."""
