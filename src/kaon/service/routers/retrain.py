"""/admin/retrain: refit the runtime predictor from the service's history and swap it in now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, StrictBool

from kaon.policy.base import PolicyParamError
from kaon.predict.model import PredictorError
from kaon.security.auth import Action, Principal
from kaon.service.deps import require
from kaon.service.retrain import Retrainer

router = APIRouter(tags=["admin"])
NOT_CONFIGURED = "retraining is not configured: start the service with --model-dir"
Retrainers = Annotated[Principal, Depends(require(Action.RETRAIN))]


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: StrictBool = False
    """Refit even if fewer than the configured number of new jobs completed (at least 2 must have)."""


class RetrainRead(BaseModel):
    swapped: bool
    reason: str
    policy: str
    model: str | None
    jobs: int
    new_jobs: int


@router.post(
    "/admin/retrain",
    response_model=RetrainRead,
    responses={409: {"description": "retraining failed; the current model stays"}},
)
def retrain(body: RetrainRequest, request: Request, principal: Retrainers) -> RetrainRead:
    """Refit on the completed jobs, save the next model version and reload the policy with it.
    Pending and running jobs are carried over, as by `/admin/reload`."""
    retrainer: Retrainer | None = request.app.state.retrainer
    if retrainer is None:  # nothing to do is not an error: the answer says why nothing changed
        policy = request.app.state.service.loop.host.spec
        return RetrainRead(swapped=False, reason=NOT_CONFIGURED, policy=policy, model=None, jobs=0, new_jobs=0)
    try:
        out = retrainer.retrain(force=body.force, actor=principal.actor)
    except (PredictorError, PolicyParamError, ValueError) as e:  # ValueError: scikit-learn refused the data
        raise HTTPException(409, f"retraining failed, the current model stays: {e}") from None
    return RetrainRead(
        swapped=out.swapped, reason=out.reason, policy=out.policy,
        model=str(out.model) if out.model is not None else None, jobs=out.jobs, new_jobs=out.new_jobs,
    )  # fmt: skip
