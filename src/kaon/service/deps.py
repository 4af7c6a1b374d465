"""Request dependencies shared by the routers."""

from __future__ import annotations

from fastapi import HTTPException, Request

from kaon.service.runtime import Service
from kaon.store.records import JobRecord


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_job(service: Service, job_id: int) -> JobRecord:
    record = service.store.get(job_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no job with id {job_id}")
    return record
