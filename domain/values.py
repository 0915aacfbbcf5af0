"""The vocabulary of ASN performance appraisal (PermenPANRB 6/2022).

String values are the wire format used in events and in the API, so they never change.
"""

from __future__ import annotations

from enum import StrEnum


class Rating(StrEnum):
    """The three levels for hasil kerja, perilaku kerja and every item."""

    DI_ATAS = "di_atas_ekspektasi"
    SESUAI = "sesuai_ekspektasi"
    DI_BAWAH = "di_bawah_ekspektasi"


class Predikat(StrEnum):
    SANGAT_BAIK = "sangat_baik"
    BAIK = "baik"
    BUTUH_PERBAIKAN = "butuh_perbaikan"
    KURANG = "kurang"  # "Kurang/Misconduct" in the guidance
    SANGAT_KURANG = "sangat_kurang"


class ItemKind(StrEnum):
    UTAMA = "utama"
    TAMBAHAN = "tambahan"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Aspect(StrEnum):
    KUANTITAS = "kuantitas"
    KUALITAS = "kualitas"
    WAKTU = "waktu"
    BIAYA = "biaya"


class BerakhlakValue(StrEnum):
    """The seven core values that perilaku kerja is rated on."""

    BERORIENTASI_PELAYANAN = "berorientasi_pelayanan"
    AKUNTABEL = "akuntabel"
    KOMPETEN = "kompeten"
    HARMONIS = "harmonis"
    LOYAL = "loyal"
    ADAPTIF = "adaptif"
    KOLABORATIF = "kolaboratif"


class FeedbackSource(StrEnum):
    PEER = "peer"
    SUBORDINATE = "subordinate"
    CITIZEN = "citizen"


class Periodicity(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class OrganisationalResult(StrEnum):
    """A unit's own result, which fixes how predikat may be spread (SE MenPANRB 3/2023)."""

    ISTIMEWA = "istimewa"
    BAIK = "baik"
    BUTUH_PERBAIKAN = "butuh_perbaikan"
    KURANG = "kurang"
    SANGAT_KURANG = "sangat_kurang"


class ChangeSource(StrEnum):
    """Why a delivered result was superseded."""

    APPEAL = "appeal"
    CALIBRATION = "calibration"
    CORRECTION = "correction"
