"""Which recorded fields hold personal data, and whose key protects them (UU 27/2022).

A pure registry: no keys and no cryptography here (that is `api/privacy.py`). Each entry
names an event topic, the fields of that event stored encrypted, and the *data subject*:
the person whose data key encrypts them, so that destroying that one key ("crypto-
shredding") makes exactly that person's fields unreadable in every event ever recorded.

What is personal, and why (docs/privacy.md has the full table):

* an employee's name and NIP;
* every free-text field written about an appraisal: realisation and perilaku notes,
  override and departure reasons, the reasons of a superseding result, an appeal's
  grounds, questions, explanations and decision reasons, the reason employment ended,
  a feedback comment. Free text about a person's work is about that person (and may
  name others, or touch health or family matters), so it is kept under the appraised
  employee's key: readable for the whole retention period, destroyed with the rest.

What stays in clear, because the audit trail and every score are computed from it:
ratings, capaian, targets and realisations, codes and enums, periods, dates and
timestamps, ids (employee ids are pseudonymous UUIDs), unit and position, RHK indicators,
evidence references (opaque document references; the documents keep their own
retention), actor ids, feedback scores and citizen pseudonyms.

An absent value (None) stays None: that no note was written is not personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import DomainError

#: What a personal field reads as once its subject's key has been destroyed. A string, so
#: every shredded field keeps its type; Indonesian, like the rest of the record.
SHREDDED = "[dihapus]"


class SubjectSource(StrEnum):
    """Where the data subject's id is found when an event is encrypted."""

    #: The event's own aggregate is the person (an employee's registration).
    ORIGINATOR = "originator"
    #: A field of the event itself names the person (`employee_id`).
    FIELD = "field"
    #: The first event of the same stream names the person: events of an evaluation or
    #: an appeal after its first do not repeat whose evaluation it is.
    STREAM = "stream"


@dataclass(frozen=True)
class PersonalFields:
    topic: str
    fields: tuple[str, ...]
    subject: SubjectSource
    #: The event field (or, for STREAM, the stream-opening event's field) naming the
    #: subject; unused for ORIGINATOR.
    subject_field: str = "employee_id"


#: Stream-opening events and the field that names whose stream it is. The field is never
#: personal itself (it is a pseudonymous employee id), so it can be read without a key.
STREAM_SUBJECTS: dict[str, str] = {
    "kinerja.evaluation.started.v1": "employee_id",
    "kinerja.appeal.filed.v1": "employee_id",
}

_O, _F, _S = SubjectSource.ORIGINATOR, SubjectSource.FIELD, SubjectSource.STREAM

#: Topic -> its personal fields. A topic is never removed from here once events were
#: recorded under it: their envelopes would no longer be opened.
REGISTRY: dict[str, PersonalFields] = {
    entry.topic: entry for entry in (
        PersonalFields("kinerja.employee.registered.v1", ("nip", "name"), _O),
        PersonalFields("kinerja.employee.employment-ended.v1", ("reason",), _O),
        PersonalFields("kinerja.feedback.given.v1", ("comment",), _F),
        PersonalFields("kinerja.appeal.filed.v1", ("grounds",), _F),
        PersonalFields("kinerja.appeal.explanation-requested.v1", ("question",), _S),
        PersonalFields("kinerja.appeal.explanation-given.v1", ("text",), _S),
        PersonalFields("kinerja.appeal.decided.v1", ("reasons",), _S),
        PersonalFields("kinerja.appeal.withdrawn.v1", ("reason",), _S),
        PersonalFields("kinerja.evaluation.realisation-recorded.v1", ("note",), _S),
        PersonalFields("kinerja.evaluation.item-rated.v1", ("override_reason",), _S),
        PersonalFields("kinerja.evaluation.perilaku-rated.v1", ("note",), _S),
        PersonalFields("kinerja.evaluation.result-delivered.v1", ("departure_reason",), _S),
        PersonalFields("kinerja.evaluation.result-changed.v1", ("reason",), _S),
    )
}


def personal_fields(topic: str) -> PersonalFields | None:
    return REGISTRY.get(topic)


class PersonalDataForgotten(DomainError):
    """New personal data about a person whose data key was destroyed: refused, because
    it could only be stored unreadable (or under a new key, undoing the shredding)."""

    code = "personal-data-forgotten"
    kind = "conflict"


class PersonalDataAlreadyShredded(DomainError):
    code = "personal-data-already-shredded"
    kind = "conflict"
