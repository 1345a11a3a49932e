"""Why a simulation stopped after it started: not its configuration (``config.ConfigError``, found
before any work) but something met while running. The CLI prints the message as one line and
exits with code 2, keeping the run dir (a resumable run stays resumable)."""

from __future__ import annotations

__all__ = ["PolicyFailed", "RunFailure"]


class RunFailure(RuntimeError):
    """A run that cannot go on; the message names what and where in one line."""


class PolicyFailed(RunFailure):
    """A plugged-in serving policy raised, or returned slates the simulator cannot serve."""
