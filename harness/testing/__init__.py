"""Test helpers for the harness and for plugin authors.

`OpenAIServer` is a real OpenAI-compatible HTTP server on loopback whose answers a test scripts
(texts, logprobs, HTTP errors, broken bodies, delays), so HTTP backends are tested over a socket
rather than against mocks.
"""

from harness.testing.openai_server import OpenAIServer, Reply, Served

__all__ = ["OpenAIServer", "Reply", "Served"]
