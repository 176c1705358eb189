"""Per-market approval of a release by a homologation engineer, with the type-approval
impact assessment of each vehicle type (UN R156 §7.1.1: assess before release)."""

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.services import audit_record
from compliance import rxswin
from compliance.models import ImpactAssessment, MarketApproval, RxswinEntry
from compliance.selectors import current_rxswins, vehicle_types
from ota.errors import Conflict, Forbidden, Malformed, Unprocessable
from rollouts.models import Release, ReleaseStatus
from rollouts.selectors import awaiting_type_approval, release_markets
from rollouts.services.decisions import release_decisions_changed


class ReleaseNotApprovedYet(Conflict):
    code = "release_not_approved"
    message = "A release is approved for a market only after its own four-eyes approval."


class OwnMarketApproval(Forbidden):
    code = "own_approval"
    message = "A market approval must come from someone other than the release's author."


class MarketNotTargeted(Unprocessable):
    code = "market_not_targeted"
    message = "The release does not target this market."


class MarketApprovedAlready(Conflict):
    code = "market_approved_already"
    message = "The release is approved for this market already."


class InvalidRxswin(Malformed):
    code = "invalid_rxswin"
    message = rxswin.RXSWIN_RULE


class RxswinRegistered(Conflict):
    code = "rxswin_registered"
    message = "This vehicle type carries this RXSWIN in this market already."


class UnknownMarket(Unprocessable):
    code = "unknown_market"
    message = "No such market (OTA_REGIONS)."


class InvalidAssessment(Malformed):
    code = "invalid_assessment"
    message = "The impact assessment is incomplete or invalid; see detail for each type."


@transaction.atomic
def market_approve(
    *,
    release: Release,
    market: str,
    assessments: list[rxswin.Assessment],
    actor,
    note: str = "",
) -> MarketApproval:
    """Approve the release for the market with one assessment per vehicle type it reaches
    there; a new RXSWIN enters the register; its cars there are offered it from now on."""
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.status != ReleaseStatus.APPROVED:
        raise ReleaseNotApprovedYet(detail={"release": release.version, "status": release.status})
    if release.created_by_id == actor.pk:
        raise OwnMarketApproval(detail={"author": release.created_by.get_username()})
    if market not in release_markets(release):
        raise MarketNotTargeted(detail={"market": market, "targets": release_markets(release)})
    if market in release.approved_markets:
        raise MarketApprovedAlready(detail={"market": market})
    types = vehicle_types(release=release, market=market)
    try:
        rxswin.check_assessments(assessments, vehicle_types=types)
    except rxswin.AssessmentError as exc:
        raise InvalidAssessment(detail=exc.problems) from None
    before = current_rxswins(market=market, models=types)
    taken = set(
        RxswinEntry.objects.filter(
            market=market, rxswin__in=[a.new_rxswin for a in assessments if a.new_rxswin]
        ).values_list("model", "rxswin")
    )
    clashes = {
        a.model: ["This RXSWIN is in the register already."]
        for a in assessments
        if (a.model, a.new_rxswin) in taken
    }
    if clashes:
        raise InvalidAssessment(detail=clashes)
    try:
        with transaction.atomic():
            approval = MarketApproval.objects.create(
                release=release, market=market, approved_by=actor, note=note
            )
    except IntegrityError:
        raise MarketApprovedAlready(detail={"market": market}) from None
    ImpactAssessment.objects.bulk_create(
        ImpactAssessment(
            approval=approval,
            model=a.model,
            affects_type_approval=a.affects_type_approval,
            rationale=a.rationale,
            rxswin_before=before.get(a.model, ""),
            new_rxswin=a.new_rxswin,
        )
        for a in assessments
    )
    RxswinEntry.objects.bulk_create(
        RxswinEntry(
            model=a.model, market=market, rxswin=a.new_rxswin, release=release, recorded_by=actor
        )
        for a in assessments
        if a.affects_type_approval
    )
    release.approved_markets = sorted({*release.approved_markets, market})
    release.save(update_fields=["approved_markets"])
    audit_record(
        actor=actor,
        action="release.market_approved",
        target=release,
        reason=note,
        data={
            "market": market,
            "assessments": [
                {
                    "model": a.model,
                    "affects_type_approval": a.affects_type_approval,
                    "rxswin_before": before.get(a.model, ""),
                    "new_rxswin": a.new_rxswin,
                }
                for a in assessments
            ],
        },
    )
    release_decisions_changed(release_id=release.pk, regions=[market])
    return approval


@transaction.atomic
def rxswin_register(*, model: str, market: str, value: str, actor, note: str = "") -> RxswinEntry:
    """Enter a vehicle type's RXSWIN in a market as granted by its type approval (its first,
    or one set by the authority outside an update)."""
    if market not in settings.OTA_REGIONS:
        raise UnknownMarket(detail={"market": market, "markets": settings.OTA_REGIONS})
    if not rxswin.valid_rxswin(value):
        raise InvalidRxswin(detail={"rxswin": value[:80]})
    try:
        with transaction.atomic():
            entry = RxswinEntry.objects.create(
                model=model, market=market, rxswin=value, recorded_by=actor, note=note
            )
    except IntegrityError:
        raise RxswinRegistered(detail={"model": model, "market": market, "rxswin": value}) from None
    audit_record(
        actor=actor,
        action="rxswin.registered",
        target=entry,
        reason=note,
        data={"model": model, "market": market, "rxswin": value},
    )
    return entry


def markets_approve_unaffected(*, release: Release, actor, rationale: str) -> list[str]:
    """Approve the release in each market still awaiting it, every vehicle type assessed as
    unaffected (demo data and benchmarks); the markets approved."""
    markets = awaiting_type_approval(release, release_markets(release))
    for market in markets:
        market_approve(
            release=release,
            market=market,
            assessments=[
                rxswin.Assessment(model=model, affects_type_approval=False, rationale=rationale)
                for model in sorted(vehicle_types(release=release, market=market))
            ],
            actor=actor,
        )
    return markets
