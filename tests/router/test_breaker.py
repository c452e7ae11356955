from router.breaker import CircuitBreaker


def test_breaker_opens_half_opens_and_closes():
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10)
    for t in range(3):
        assert breaker.allow(t)
        breaker.record(False, t)
    assert breaker.state(3) == "open" and not breaker.allow(5)
    assert breaker.state(12.5) == "half-open"
    assert breaker.allow(12.5) and not breaker.allow(12.6)  # one trial at a time
    breaker.record(False, 13)  # failed trial: open again for a full cooldown
    assert breaker.state(20) == "open" and breaker.state(23) == "half-open"
    assert breaker.allow(23)
    breaker.record(True, 23)
    assert breaker.state(23) == "closed" and breaker.consecutive_failures == 0


def test_success_resets_the_count():
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=1)
    breaker.record(False, 0)
    breaker.record(True, 0)
    breaker.record(False, 0)
    assert breaker.state(0) == "closed"
