"""Request and response schemas of the HTTP API, apart from the domain's objects.

Requests forbid unknown fields, so an `actor` in a body is refused: the actor of every
event is the authenticated caller. Decimal inputs accept JSON numbers or decimal strings;
decimal outputs are strings.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.values import (
    Aspect,
    BerakhlakValue,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Periodicity,
    Predikat,
    Rating,
)

Text = Annotated[str, Field(min_length=1, max_length=500)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=100)]
OptionalNote = Annotated[str | None, Field(default=None, max_length=2000)]
Period = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$",
                              examples=["2026-01", "2026-Q1"])]
Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=30,
                                  decimal_places=10, examples=["40", "92.5"])]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- employees -----------------------------------------------------------------------------

class RegisterEmployee(Input):
    nip: Annotated[str, Field(pattern=r"^[0-9 ]{8,24}$", examples=["199001012015031001"])]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    unit: ShortText
    position: Annotated[str, Field(min_length=1, max_length=200)]
    employee_id: UUID | None = Field(
        default=None, description="Optional: the id to register under (else one is made)")


class AssignRater(Input):
    rater_id: UUID
    effective_from: date


class AssignReviewer(Input):
    reviewer_id: UUID
    effective_from: date


class TransferEmployee(Input):
    unit: ShortText
    position: Annotated[str, Field(min_length=1, max_length=200)]
    effective_from: date


class EndEmployment(Input):
    effective_on: date
    reason: LongText


class ForgetPersonalData(Input):
    reason: LongText = Field(description="Why the person's data is shredded (recorded in "
                                         "the log with who and when), e.g. the retention "
                                         "period that ended or the request honoured")


# --- rubrics -------------------------------------------------------------------------------

class MatrixRow(Input):
    di_atas_ekspektasi: Predikat
    sesuai_ekspektasi: Predikat
    di_bawah_ekspektasi: Predikat


class Matrix(Input):
    """The kuadran: rows hasil kerja, columns perilaku kerja."""

    di_atas_ekspektasi: MatrixRow
    sesuai_ekspektasi: MatrixRow
    di_bawah_ekspektasi: MatrixRow


class QuotaRuleIn(Input):
    predikat: Annotated[list[Predikat], Field(min_length=1, max_length=5)]
    bound: Literal["max_share", "min_share", "min_count"]
    value: Amount


class PolicyIn(Input):
    """A rubric version's policy; every field left out takes the national default."""

    matrix: Matrix | None = None
    above_threshold: Amount | None = None
    below_threshold: Amount | None = None
    majority_share: Amount | None = None
    feedback_weights: dict[Literal["rater", "peers_and_subordinates", "citizens"],
                           Amount] | None = None
    quotas: dict[OrganisationalResult,
                 Annotated[list[QuotaRuleIn], Field(max_length=10)]] | None = None
    unit_head_hk: dict[OrganisationalResult, Rating] | None = None
    appeal_window_days: Annotated[int, Field(ge=1, le=365)] | None = None


class IndicatorTemplate(Input):
    code: Annotated[str, Field(min_length=1, max_length=50)]
    indicator: Annotated[str, Field(min_length=1, max_length=300)]
    kind: ItemKind = ItemKind.UTAMA
    aspect: Aspect = Aspect.KUANTITAS
    direction: Direction = Direction.HIGHER_IS_BETTER
    unit_of_measure: Annotated[str, Field(max_length=50)] = ""


class EstablishRubric(Input):
    code: Annotated[str, Field(min_length=1, max_length=50)]
    title: Annotated[str, Field(min_length=1, max_length=200)]


class PublishRubricVersion(Input):
    version: Annotated[int, Field(ge=1, le=100000)]
    effective_from: date
    policy: PolicyIn = Field(default_factory=PolicyIn)
    indicators: Annotated[list[IndicatorTemplate], Field(max_length=200)] = []
    summary: Annotated[str, Field(min_length=1, max_length=2000)]


# --- cycles --------------------------------------------------------------------------------

class StartCycle(Input):
    unit: ShortText
    year: Annotated[int, Field(ge=2000, le=2100)]
    periodicity: Periodicity
    rubric_id: UUID


class OpenPeriod(Input):
    period: Period


class SetOrganisationalResult(Input):
    result: OrganisationalResult


class NameAppealPanel(Input):
    members: Annotated[list[ShortText], Field(min_length=1, max_length=50)]


class LockCycle(Input):
    justification: Annotated[str | None, Field(max_length=4000)] = None


class ReopenCycle(Input):
    reason: LongText
    authority: Annotated[str, Field(min_length=1, max_length=300)]


class StartEvaluations(Input):
    period: Period
    employee_ids: Annotated[list[UUID], Field(min_length=1, max_length=10000)]


# --- evaluations ---------------------------------------------------------------------------

class PlanItem(Input):
    item_id: Annotated[str, Field(min_length=1, max_length=50)]
    kind: ItemKind
    aspect: Aspect
    indicator: Annotated[str, Field(min_length=1, max_length=300)]
    target: Amount
    direction: Direction
    unit_of_measure: Annotated[str, Field(max_length=50)] = ""
    supports: Annotated[str | None, Field(max_length=200)] = None


class RecordRealisation(Input):
    value: Amount
    evidence: Annotated[list[Text], Field(max_length=20,
                                          description="References to bukti dukung")] = []
    note: OptionalNote = None


class RateItem(Input):
    override: Rating | None = Field(
        default=None, description="A rating other than the computed one; needs `reason`")
    reason: Annotated[str | None, Field(max_length=4000)] = None


class RatePerilaku(Input):
    value: BerakhlakValue
    rating: Rating
    note: OptionalNote = None


class DeliverResult(Input):
    departure_reason: Annotated[str | None, Field(
        max_length=4000, description="Needed when perilaku kerja departs from the "
                                     "feedback-weighted suggestion")] = None


class CalibrateResult(Input):
    session: Annotated[str, Field(min_length=1, max_length=200)]
    hasil_kerja: Rating
    perilaku_kerja: Rating
    reason: LongText


class CorrectResult(Input):
    hasil_kerja: Rating
    perilaku_kerja: Rating
    reason: LongText


# --- feedback ------------------------------------------------------------------------------

Score = Annotated[int, Field(ge=1, le=5, strict=True)]


class PeerFeedback(Input):
    """From a peer or subordinate; the giver is the caller, never named in the body."""

    employee_id: UUID
    period: Period
    source: Literal["peer", "subordinate"]
    score: Score
    value: BerakhlakValue | None = None
    comment: Annotated[str | None, Field(max_length=4000)] = None


class CitizenFeedback(Input):
    employee_id: UUID
    period: Period
    giver_ref: Annotated[str, Field(min_length=1, max_length=200,
                                    description="The channel's pseudonym of the citizen")]
    score: Score
    value: BerakhlakValue | None = None
    comment: Annotated[str | None, Field(max_length=4000)] = None
    channel: Annotated[str, Field(min_length=1, max_length=50, examples=["JAKI"])]
    external_ref: Annotated[str | None, Field(
        max_length=200, description="The channel's own id of the item: a channel that "
                                    "sends the same item twice records it once")] = None

    def as_item(self) -> dict[str, Any]:
        """The item as `AppraisalLedger.give_feedback(_batch)` takes it (less the actor)."""
        return dict(employee_id=str(self.employee_id), period=self.period,
                    source=FeedbackSource.CITIZEN, giver_ref=self.giver_ref,
                    score=self.score, value=self.value, comment=self.comment,
                    channel=self.channel, external_ref=self.external_ref)


class CitizenFeedbackBatch(Input):
    items: Annotated[list[CitizenFeedback], Field(min_length=1, max_length=10000)]


# --- appeals -------------------------------------------------------------------------------

class FileAppeal(Input):
    grounds: LongText


class RequestExplanation(Input):
    party: Literal["rater", "employee"]
    question: LongText


class GiveExplanation(Input):
    text: Annotated[str, Field(min_length=1, max_length=8000)]


class DecideAppeal(Input):
    outcome: Literal["kept", "changed"]
    hasil_kerja: Rating | None = None
    perilaku_kerja: Rating | None = None
    reasons: LongText


class WithdrawAppeal(Input):
    reason: LongText


# --- write answers -------------------------------------------------------------------------

class Written(BaseModel):
    position: int | None = Field(description="Log position of the write's last event "
                                             "(null when nothing new was recorded); pass it "
                                             "as `as_of` to read your write")


class EmployeeRegistered(Written):
    employee_id: str


class PersonalDataShredded(Written):
    employee_id: str


class RubricEstablished(Written):
    rubric_id: str


class CycleStarted(Written):
    cycle_id: str


class EvaluationsStarted(Written):
    evaluation_ids: list[str]


class FeedbackGiven(Written):
    feedback_id: str


class FeedbackBatchGiven(Written):
    feedback_ids: list[str]


class AppealFiled(Written):
    appeal_id: str


# --- query answers -------------------------------------------------------------------------
# Read models may add fields (extra="allow"); the fields named here are the contract.

class Output(BaseModel):
    model_config = ConfigDict(extra="allow")


class AsOf(BaseModel):
    position: int


DecimalText = Annotated[str | None, Field(description="A decimal number as a string")]


class EvaluationRow(Output):
    evaluation_id: str
    employee_id: str
    unit: str
    period: str
    hasil_kerja: Rating | None
    perilaku_kerja: Rating | None
    predikat: Predikat | None
    status: str


class EvaluationPage(Output):
    items: list[EvaluationRow]
    next_cursor: str | None
    as_of: AsOf


class RubricRef(Output):
    rubric_id: str
    version: int


class Override(Output):
    computed_rating: Rating | None = None
    rating: Rating | None = None
    reason: str | None = None


class ExplainedItem(Output):
    item_id: str
    kind: ItemKind
    target: DecimalText
    realisation: DecimalText
    direction: Direction
    capaian: DecimalText
    rating: Rating | None
    override: Override | None


class ExplainInput(Output):
    position: int
    topic: str
    ledger_index: int | None
    leaf_hash: str | None


class Explanation(Output):
    evaluation_id: str
    employee_id: str
    period: str
    rubric: RubricRef
    items: list[ExplainedItem]
    perilaku_values: dict[str, Rating | None]
    hasil_kerja: Rating | None
    perilaku_kerja: Rating | None
    predikat: Predikat | None
    inputs: list[ExplainInput]
    as_of: AsOf


class HistoryEntry(Output):
    position: int
    topic: str


class History(Output):
    employee_id: str
    entries: list[HistoryEntry]
    next_cursor: str | None = None
    as_of: AsOf


class Distribution(Output):
    unit: str
    period: str
    counts: dict[str, int]
    total: int
    as_of: AsOf


class AuditItem(Output):
    position: int
    topic: str


class AuditPage(Output):
    actor: str
    items: list[AuditItem]
    next_cursor: str | None
    as_of: AsOf


class LogEvent(Output):
    position: int
    topic: str
    originator_id: str
    originator_version: int
    recorded_at: str | None
    actor: str | None
    payload: dict[str, Any]


class EventPage(Output):
    items: list[LogEvent]
    next_after: int | None


class Health(BaseModel):
    status: Literal["ok"]
    log_position: int
    projection_position: int | None
