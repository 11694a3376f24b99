"""A run's token use and cost, summed from its metrics (the run page's usage panel)."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from agents.models import AgentRun, Metric


@dataclass(frozen=True)
class StepUsage:
    """One step's model calls: their tokens and cost."""

    tokens: int = 0
    cost: float = 0.0
    cost_reports: int = 0


@dataclass(frozen=True)
class RunUsage:
    llm_calls: int = 0
    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    # Tokens reported without an input/output split (external agents may send a total).
    unsplit_tokens: int = 0
    # Cost rows: none at all means nobody reported a cost (an external agent may not).
    cost_reports: int = 0
    # By step number, for the calls recorded with their step (the step loop's).
    by_step: dict[int, StepUsage] = field(default_factory=dict)


def _as_int(value: Any) -> int:
    # Metadata is reported by external agents too: anything but a number counts as 0.
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def run_usage(*, run: AgentRun) -> RunUsage:
    """The run's token use and cost: the sums of its token_usage and cost metrics (one
    query, split into input, output and cached tokens from their metadata, and into the
    steps the calls were made for)."""
    rows = run.metrics.filter(type__in=[Metric.Type.TOKEN_USAGE, Metric.Type.COST]).values_list(
        "type", "value", "metadata"
    )
    usage: dict[str, Any] = dict.fromkeys(RunUsage.__dataclass_fields__, 0)
    usage["cost"] = 0.0
    steps: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"tokens": 0, "cost": 0.0, "cost_reports": 0}
    )
    for type_, value, metadata in rows:
        metadata = metadata if isinstance(metadata, dict) else {}
        step = metadata.get("step")
        per_step = steps[step] if isinstance(step, int) and not isinstance(step, bool) else None
        if type_ == Metric.Type.TOKEN_USAGE:
            usage["llm_calls"] += 1
            usage["tokens"] += round(value)
            for key in ("input_tokens", "output_tokens", "cached_input_tokens"):
                usage[key] += _as_int(metadata.get(key))
            split = _as_int(metadata.get("input_tokens")) + _as_int(metadata.get("output_tokens"))
            usage["unsplit_tokens"] += max(0, round(value) - split)
            if per_step is not None:
                per_step["tokens"] += round(value)
        else:
            usage["cost"] += value
            usage["cost_reports"] += 1
            if metadata.get("priced") is False:
                usage["unpriced_calls"] += 1
            if per_step is not None:
                per_step["cost"] += value
                per_step["cost_reports"] += 1
    usage["by_step"] = {number: StepUsage(**sums) for number, sums in steps.items()}
    return RunUsage(**usage)
