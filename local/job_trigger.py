"""Local only: run a scheduled function once on demand (``make rollup``), inside the running ``make run`` process
(which knows the local DynamoDB's endpoint). Mounted by local/server.py; never part of a Lambda function. The timer
runs the same jobs in their own process (local/job_runner.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway_common.errors import NotFound

from . import jobs

router = APIRouter(tags=["local"], include_in_schema=False)


@router.post("/local/jobs/{logical_id}")
def run_job(logical_id: str) -> dict[str, Any]:
    for function in jobs.scheduled_functions():
        if function.logical_id == logical_id:
            result = jobs.invoker(function)()
            return {"job": logical_id, "result": result if isinstance(result, dict) else str(result)}
    names = ", ".join(f.logical_id for f in jobs.scheduled_functions())
    raise NotFound(f"No scheduled function '{logical_id}' in template.yaml (there are: {names})")
