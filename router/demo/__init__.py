"""Local demo upstreams: OpenAI- and Anthropic-style providers on loopback with real-world timing."""
from .behaviour import Behaviour
from .server import DemoProviders, build_demo_app

__all__ = ["Behaviour", "DemoProviders", "build_demo_app"]
