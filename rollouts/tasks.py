"""django-q2 tasks of the rollouts app: each calls one service."""

from rollouts.services.evaluation import evaluate_running


def evaluate_rollouts() -> dict[str, int]:
    evaluations = evaluate_running()
    return {e.outcome: sum(1 for x in evaluations if x.outcome == e.outcome) for e in evaluations}
