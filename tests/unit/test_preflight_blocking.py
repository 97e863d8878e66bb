"""What blocks a swap: ``validate`` and a real swap decide it by the same rule."""

from __future__ import annotations

from app.swap.preflight import Check, Validation, blocking_failures


def test_a_failed_warning_check_neither_blocks_nor_spoils_validate() -> None:
    checks = [
        Check("ssh spark1", True, "reachable"),
        Check("disk spark1", False, "1.0 GiB free (need at least 5 GiB)", blocking=False),
    ]
    assert blocking_failures(checks) == []
    assert Validation.of("m", checks).ok is True


def test_a_failed_blocking_check_blocks_and_validate_says_so() -> None:
    weights = Check("weights spark2", False, "weights for x are missing on spark2")
    checks = [Check("disk spark1", False, "no df", blocking=False), weights]
    assert blocking_failures(checks) == [weights]
    assert Validation.of("m", checks).ok is False
