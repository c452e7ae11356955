"""One typed, frozen record per attempt: the decision that was made and what came of it.

The field order is the DuckDB column order (see `telemetry.migrations`). The simulator writes the
same records, so notebooks and off-policy evaluation read real and simulated logs alike.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["AttemptEvent", "ERROR_CLASSES", "EVENT_FIELDS", "UPTIME_EXCLUDED", "counts_against_uptime"]

# Error classes as recorded; "user" (4xx caused by the request) and "429" do not count against
# uptime, as OpenRouter defines uptime.
ERROR_CLASSES = ("timeout", "connect", "429", "5xx", "bad-response", "mid-stream", "client-cancel", "user")
# Errors that say nothing about the provider's health: the user's own 4xx, rate limits (OpenRouter
# excludes both from uptime) and a client hanging up mid-request.
UPTIME_EXCLUDED = ("user", "429", "client-cancel")


def counts_against_uptime(error_class: str | None) -> bool:
    """True for a failure that lowers the endpoint's uptime; False for successes and excluded errors."""
    return error_class is not None and error_class not in UPTIME_EXCLUDED


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    request_id: str
    generation_id: str
    ts: float  # unix seconds when the attempt started
    key_id: str  # hashed key id, never the key
    requested_model: str
    served_model: str
    endpoint_id: str
    provider: str
    attempt: int  # 0 for the first attempt of a request
    candidates: tuple[str, ...]  # the candidate set the policy chose from
    policy: str
    policy_version: str
    propensity: float  # probability of this endpoint being first under the policy (for attempt 0)
    prompt_tokens: int = 0
    max_tokens: int | None = None
    stream: bool = False
    has_tools: bool = False
    completion_tokens: int = 0
    ttft_s: float | None = None
    latency_s: float | None = None
    tokens_per_s: float | None = None
    status: int = 0  # HTTP status from upstream (0 = no response)
    error_class: str | None = None  # None on success, else one of ERROR_CLASSES
    prompt_price: float = 0.0  # USD per token in effect
    completion_price: float = 0.0
    cost: float = 0.0  # USD billed for this attempt (0 when it failed)
    is_byok: bool = False
    source: str = "gateway"  # "gateway" or "simulator"

    @property
    def success(self) -> bool:
        return self.error_class is None


EVENT_FIELDS = tuple(f.name for f in fields(AttemptEvent))
