"""The examples in client/python/examples, run as a user runs them, against the fixture's pdcd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pdc

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, daemon, *args: str) -> str:
    env = dict(os.environ, PDC_LIBRARY=pdc._capi.loaded_path() or os.environ.get("PDC_LIBRARY", ""))
    p = subprocess.run([sys.executable, str(EXAMPLES / name), "--socket", daemon.socket, *args],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, f"{name} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_vector_add(daemon, client):
    out = run_example("vector_add.py", daemon, "--requests", "50", "--size", "300")
    assert "50 vector additions of 300 floats on the spin tier: all correct" in out
    assert "a malformed request gets: plugin_error" in out and "not a valid VectorAddRequest" in out
    assert client.list() == []  # it terminated its kernel


@pytest.mark.parametrize("window", ["1024", "1"])
def test_streaming_pipeline(daemon, client, window):
    out = run_example("streaming_pipeline.py", daemon, "--count", "3000", "--window", window)
    assert "3000 values through front -> stage1 -> stage2: all correct (x4)" in out
    assert out.count("processed 3000, handler errors 0") == 3
    assert client.list() == []
