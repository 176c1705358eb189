"""django-q2 tasks of the compliance app (thin: each calls one service)."""

from compliance.services.evidence import evidence_prune


def prune_evidence() -> int:
    return evidence_prune()


def build_export(export_id: int) -> None:
    from compliance.services.exports import evidence_export_build

    evidence_export_build(export_id=export_id)


def resume_stalled_exports() -> list[int]:
    from compliance.services.exports import evidence_exports_resume

    return evidence_exports_resume()
