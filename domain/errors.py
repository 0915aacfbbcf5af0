"""Typed domain errors.

Every refusal of a command is one of these. Each class carries a stable `code`, which
`api/errors.py` turns into the RFC 9457 problem `type`; the message is for people.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused by a rule of the domain; nothing was recorded."""

    code = "domain-error"
    #: Broad kind of refusal, so the API can pick a status without listing every class.
    kind = "rule"  # one of: rule, not-found, conflict, forbidden, invalid

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidValue(DomainError):
    code = "invalid-value"
    kind = "invalid"


class NotFound(DomainError):
    code = "not-found"
    kind = "not-found"


class AlreadyExists(DomainError):
    code = "already-exists"
    kind = "conflict"


class ConcurrentChange(DomainError):
    """Someone else changed the same aggregate first; the command may be retried."""

    code = "concurrent-change"
    kind = "conflict"


class NotAuthorised(DomainError):
    """The acting user does not hold the domain role this command needs."""

    code = "not-authorised"
    kind = "forbidden"


class NotRaterInForce(NotAuthorised):
    code = "not-rater-in-force"


class SelfRatingRefused(NotAuthorised):
    code = "self-rating-refused"


class NotAppealReviewer(NotAuthorised):
    code = "not-appeal-reviewer"


class EmploymentEnded(DomainError):
    code = "employment-ended"


class RubricVersionConflict(DomainError):
    code = "rubric-version-conflict"
    kind = "conflict"


class NoRubricInForce(DomainError):
    code = "no-rubric-in-force"


class PeriodNotOpen(DomainError):
    code = "period-not-open"


class PeriodAlreadyOpen(DomainError):
    code = "period-already-open"
    kind = "conflict"


class CycleLocked(DomainError):
    code = "cycle-locked"


class CycleNotLocked(DomainError):
    code = "cycle-not-locked"


class DistributionBreach(DomainError):
    """Locking would breach the distribution curve and no justification was given."""

    code = "distribution-breach"


class TargetsAlreadyFixed(DomainError):
    code = "targets-already-fixed"


class TargetsNotFixed(DomainError):
    code = "targets-not-fixed"


class UnknownItem(DomainError):
    code = "unknown-item"
    kind = "not-found"


class RealisationMissing(DomainError):
    code = "realisation-missing"


class ReasonRequired(DomainError):
    code = "reason-required"
    kind = "invalid"


class EvaluationIncomplete(DomainError):
    code = "evaluation-incomplete"


class EvaluationNotDelivered(DomainError):
    code = "evaluation-not-delivered"


class EvaluationAlreadyDelivered(DomainError):
    code = "evaluation-already-delivered"
    kind = "conflict"


class AppealWindowClosed(DomainError):
    code = "appeal-window-closed"


class AppealAlreadyFiled(DomainError):
    code = "appeal-already-filed"
    kind = "conflict"


class AppealNotOpen(DomainError):
    """The appeal was already decided, withdrawn or lapsed."""

    code = "appeal-not-open"
    kind = "conflict"


class AppealWindowStillOpen(DomainError):
    code = "appeal-window-still-open"
