"""The engine's reading of vLLM's log, checked against the captured real vLLM 0.32 logs."""

from __future__ import annotations

import pytest

from app.swap import log_signals as signals
from app.swap import progress
from tests.vllm_captures import REJECTIONS, lines, timed_lines


def diagnose(name: str) -> signals.Diagnosis:
    diagnosis = signals.Diagnosis()
    for line in lines(name):
        diagnosis.observe(line)
    return diagnosis


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("(APIServer pid=9070) INFO 12-01 13:32:52 [model.py:733] Resolved architecture: X", "Resolved architecture: X"),
        ("(EngineCore pid=8296) ERROR 12-01 13:29:30 [core.py:1510] EngineCore failed to start.", "EngineCore failed to start."),
        ("(Worker pid=9128) INFO 12-01 13:33:03 [default_loader.py:501] Loading weights took 0.01 seconds", "Loading weights took 0.01 seconds"),
        ("(VllmWorker-0 pid=9128) WARNING 12-01 13:33:02 [vllm.py:725] Model Runner V2 requires Triton", "Model Runner V2 requires Triton"),
        ("INFO 06-17 12:00:00 [core.py:708] plain prefix", "plain prefix"),
        ("\rLoading safetensors checkpoint shards:   0% Completed | 0/1\rLoading safetensors checkpoint shards: 100% Completed | 1/1", "Loading safetensors checkpoint shards: 100% Completed | 1/1"),
        ("INFO:     Application startup complete.", "INFO:     Application startup complete."),
        ("vllm: error: unrecognized arguments: --no-such-flag", "vllm: error: unrecognized arguments: --no-such-flag"),
    ],
)  # fmt: skip
def test_message_strips_every_real_prefix_and_keeps_the_last_redraw(line, expected):
    assert signals.message(line) == expected


def test_the_captured_start_moves_progress_through_every_milestone_in_order():
    seen = [(at, p) for at, line in timed_lines("startup-ok") if (p := progress.progress_for(line))]
    values = [p for _, p in seen]
    assert values == sorted(values), seen
    # The bar moves early (the banner at 6.4 s), during weight loading and before readiness,
    # instead of sitting at the loading phase's 0.3 until "startup complete".
    assert min(at for at, _ in seen) < 7.0
    assert len(set(values)) >= 8
    assert values[-1] == 0.9
    shards = [p for at, p in seen if 16.8 < at < 16.95]
    assert max(shards) >= progress.SHARDS_TO  # the 100 % redraw, not the 0 % before it


def test_every_milestone_matches_a_line_of_the_real_start():
    for milestone in progress.LOG_MILESTONES:
        if "older vLLM" in milestone.vllm_line:
            continue
        assert any(
            milestone.pattern.search(signals.message(line)) for line in lines("startup-ok")
        ), milestone


def test_a_clean_start_has_no_fatal_line():
    diagnosis = diagnose("startup-ok")
    assert diagnosis.best is None and not diagnosis.decisive


@pytest.mark.parametrize(
    ("capture", "sentence"),
    [
        ("unrecognized-argument", "vLLM refused the launch: unrecognized arguments: --no-such-flag"),
        ("max-model-len-too-large", "vLLM refused the launch: User-specified max_model_len (100000) is greater than the derived max_model_len (max_position_embeddings=512.0 or model_max_length=None in model's config.json)."),
        ("unsupported-architecture", "vLLM refused the launch: Model architectures ['NoSuchArchForCausalLM'] are not supported for now."),
        ("truncated-safetensors", "vLLM on spark1 failed while loading: SafetensorError: Error while deserializing header: invalid header length"),
    ],
)  # fmt: skip
def test_each_real_rejection_is_decisive_and_quotes_its_root_cause(capture, sentence):
    diagnosis = diagnose(capture)
    assert diagnosis.decisive
    assert diagnosis.sentence("spark1", exited=True) == sentence


def test_the_root_cause_wins_over_the_lines_that_follow_it():
    diagnosis = signals.Diagnosis()
    for line in lines("truncated-safetensors"):
        diagnosis.observe(line)
        if "EngineCore failed to start" in line:
            break
    assert diagnosis.best is not None and "SafetensorError" in diagnosis.best.cause
    assert diagnosis.decisive


def test_the_decisive_line_arrives_just_before_vllm_exits():
    """The swap can end as soon as the decisive line arrives, before the exit is noticed."""
    for capture in REJECTIONS:
        timed = timed_lines(capture)
        diagnosis = signals.Diagnosis()
        decisive_at = None
        for at, line in timed:
            diagnosis.observe(line)
            if diagnosis.decisive and decisive_at is None:
                decisive_at = at
        assert decisive_at is not None and timed[-1][0] - decisive_at < 0.1, capture


@pytest.mark.parametrize(
    "line",
    [
        "(APIServer pid=1) WARNING 12-01 13:32:52 [system_utils.py:255] Found ulimit of 20000 and failed to automatically increase with error current limit exceeds maximum limit. This can cause fd limit errors like `OSError: [Errno 24] Too many open files`.",
        "(Worker pid=9) WARNING 12-01 13:33:05 [decorators.py:333] [backbone] Compiling model again due to a load failure from /x, reason: 'function' object has no attribute",
        "  File \"/usr/local/bin/vllm\", line 17, in <module>",
        "    raise ValueError(\"x\")",
    ],
)  # fmt: skip
def test_warnings_and_traceback_frames_are_not_fatal(line):
    assert signals.classify(line) is None


def test_a_traceback_alone_is_not_decisive_but_names_a_cause_at_exit():
    diagnosis = signals.Diagnosis()
    diagnosis.observe("Traceback (most recent call last):")
    diagnosis.observe('  File "x.py", line 1, in <module>')
    diagnosis.observe("ModuleNotFoundError: No module named 'vllm._C'")
    assert not diagnosis.decisive
    assert diagnosis.sentence("spark1", exited=True) == (
        "vLLM on spark1 failed while loading: ModuleNotFoundError: No module named 'vllm._C'"
    )


def test_crash_lines_after_ready():
    diagnosis = signals.Diagnosis()
    diagnosis.observe(
        "(APIServer pid=9) ERROR 12-01 13:40:00 [async_llm.py:480] EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause."
    )
    assert diagnosis.decisive
    assert diagnosis.sentence("spark1", exited=False, after_ready=True) == (
        "vLLM on spark1 crashed: EngineDeadError: EngineCore encountered an issue."
    )


def test_exit_without_a_fatal_line_says_so():
    assert "exited while loading without an error" in signals.Diagnosis().sentence(
        "spark1", exited=True
    )
