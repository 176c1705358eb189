"""django-q2 tasks of the rollouts app: each calls one service."""

from rollouts.services.evaluation import evaluate_running


def evaluate_rollouts() -> dict[str, int]:
    evaluations = evaluate_running()
    return {e.outcome: sum(1 for x in evaluations if x.outcome == e.outcome) for e in evaluations}


def send_rollout_notifications(rollout_id: int, event: str, detail: dict) -> int:
    from rollouts.services.notifications import send_rollout_notifications as send

    return send(rollout_id=rollout_id, event=event, detail=detail)


def deliver_webhook(delivery_id: int) -> str:
    from rollouts.services.notifications import webhook_deliver

    return webhook_deliver(delivery_id=delivery_id)


def wake_assigned(rollout_id: int, after: int = 0) -> int:
    from rollouts.services.decisions import wake_assigned as wake

    return wake(rollout_id=rollout_id, after=after)
