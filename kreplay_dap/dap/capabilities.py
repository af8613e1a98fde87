"""Everything the adapter declares to the client, in one place."""

from __future__ import annotations

from typing import Any

from kreplay_dap.replay.breakpoints import EXCEPTION_FILTERS


def capabilities() -> dict[str, Any]:
    filters = [
        {"filter": key, "label": label, "description": text, "default": default,
         "supportsCondition": False}
        for key, (label, text, default) in EXCEPTION_FILTERS.items()
    ]  # fmt: skip
    return {
        "supportsConfigurationDoneRequest": True,
        "supportsFunctionBreakpoints": True,
        "supportsConditionalBreakpoints": True,
        "supportsHitConditionalBreakpoints": True,
        "supportsEvaluateForHovers": True,
        "exceptionBreakpointFilters": filters,
        "supportsStepBack": True,
        "supportsSetVariable": False,
        "supportsRestartFrame": True,
        "supportsGotoTargetsRequest": True,
        "supportsCompletionsRequest": True,
        "completionTriggerCharacters": [".", "["],
        "supportsRestartRequest": True,
        "supportsExceptionInfoRequest": True,
        "supportTerminateDebuggee": False,
        "supportsDelayedStackTraceLoading": False,
        "supportsLogPoints": True,
        "supportsDataBreakpoints": True,
        "supportsTerminateRequest": True,
        "supportsCancelRequest": False,
        "supportsSteppingGranularity": False,
        "supportsSingleThreadExecutionRequests": False,
    }
