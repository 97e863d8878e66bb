"""The OpenAI-compatible proxy: routing and admission (``policy``), header filtering
(``headers``) and the one module that talks to the backends (``upstream``)."""
