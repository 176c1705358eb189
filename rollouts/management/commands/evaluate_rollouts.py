"""Evaluate every running rollout now (what the one-minute schedule does)."""

from django.core.management.base import BaseCommand

from rollouts.services.evaluation import evaluate_running


class Command(BaseCommand):
    help = "Evaluate every running rollout: time-outs, failure rate, health against control."

    def handle(self, *args, **options):
        for evaluation in evaluate_running():
            line = f"{evaluation.rollout}: stage {evaluation.stage_index}, {evaluation.outcome}"
            if evaluation.reason:
                line += f" — {evaluation.reason}"
            self.stdout.write(line)
