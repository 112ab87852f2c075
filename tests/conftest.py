"""Shared fixtures: a running sandbox (all stand-ins on free loopback ports) per test or per module."""

from __future__ import annotations

import signal

import pytest

from ferry.sandbox.server import Sandbox, SandboxOptions


def pytest_configure(config):
    """Tests send Ctrl-C (SIGINT) to ferry child processes. A shell that starts the suite in the
    background without job control (``cmd &``, ``nohup``) makes it ignore SIGINT, and an ignored signal
    stays ignored in every child, so those children would never see the signal: undo that here."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _fresh_secret_registry():
    """Each test starts with no registered secrets: ferry commands run in-process register theirs, and a
    word registered by one test (say a stand-in's default password) must not be redacted in the next."""
    from ferry import redact

    redact.forget_all()
    yield
    redact.forget_all()


@pytest.fixture
def sandbox(tmp_path):
    """All stand-ins, fresh, with their data under the test's tmp folder."""
    with Sandbox(SandboxOptions(data=tmp_path / "sandbox")) as sbx:
        yield sbx


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory):
    """All stand-ins shared by one test module (for slow client tests)."""
    with Sandbox(SandboxOptions(data=tmp_path_factory.mktemp("sandbox"))) as sbx:
        yield sbx
