"""A deterministic, realistic demo dataset: Dinas Perhubungan DKI Jakarta, 2026.

Everything is written through the application's commands, so every rule of the domain
holds on the demo exactly as in real use. The dataset follows a simulated calendar in
Jakarta time (WIB). HR (BKD) sets up in December 2025. Each month the period opens and
the Kepala Satuan Pelaksana plan their officers' SKP; citizens' complaint channels (JAKI,
CRM, Qlue, JakPotret) send feedback weekly and colleagues give peer feedback; in the first
working days of the next month officers record realisations with evidence, raters rate and
deliver, and HR records each unit's organisational result. Mid-year a second rubric version
takes effect. Around that run the cases an inspector or a panel wants to see: a calibration
session, appeals (kept, changed, withdrawn, one refused as late), lapsed appeal windows, and
a unit's cycle locked, reopened with reason and authority, corrected and locked again.

Determinism: every id and value derives from the seed, and the simulated clock is the only
time the ledger sees, so one seed gives the same log byte for byte.
"""

from __future__ import annotations

import calendar
import heapq
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from api.service import AppraisalLedger
from domain.appeal import Appeal
from domain.errors import AppealWindowClosed, DistributionBreach, DomainError, InvalidValue
from domain.evaluation import Evaluation
from domain.scoring import RubricPolicy, capaian, rate_capaian
from domain.values import (
    BerakhlakValue,
    Direction,
    FeedbackSource,
    OrganisationalResult,
    Periodicity,
    Predikat,
    Rating,
)

WIB = timezone(timedelta(hours=7))
YEAR = 2026
#: One field officer per unit at least.
MIN_EMPLOYEES = 6
MAX_MONTHS = 12

ADMIN = "bkd:admin"
INSPECTOR = "inspektorat:auditor-1"
#: Tim Penilai Kinerja: the appeal panel named for one cycle (PP 30/2019).
APPEAL_PANEL = ("tpk:dishub-ketua", "tpk:dishub-sekretaris", "tpk:bkd-anggota")
#: Complaint channels, the integration that sends each, and its share of the traffic.
CITIZEN_CHANNELS = (("JAKI", "kanal:jaki", 40), ("CRM", "kanal:crm", 25),
                    ("Qlue", "kanal:qlue", 20), ("JakPotret", "kanal:jakpotret", 15))
#: Peer feedback comes through e-Kinerja's own form, which numbers its submissions.
PEER_CHANNEL = "e-Kinerja"
RUBRIC_CODE = "dishub-petugas-lapangan"
EVIDENCE_URL = "https://e-kinerja.jakarta.go.id/bukti/{}.pdf"
DINAS = "Dinas Perhubungan Provinsi DKI Jakarta"

VIOLATIONS = "pelanggaran-persimpangan"
PATROL = "patroli-tepat-waktu"
SATISFACTION = "kepuasan-pengguna-jalan"
COMPLAINTS = "aduan-tuntas-7-hari"

INDICATORS_V1 = [
    {"code": VIOLATIONS,
     "indicator": "Jumlah pelanggaran lalu lintas di persimpangan penugasan",
     "kind": "utama", "aspect": "kuantitas", "direction": "lower_is_better",
     "unit_of_measure": "kasus"},
    {"code": PATROL, "indicator": "Cakupan patroli tepat waktu", "kind": "utama",
     "aspect": "waktu", "direction": "higher_is_better", "unit_of_measure": "%"},
    {"code": SATISFACTION, "indicator": "Kepuasan pengguna jalan dari kanal aduan",
     "kind": "tambahan", "aspect": "kualitas", "direction": "higher_is_better",
     "unit_of_measure": "skor 1-5"},
]
INDICATORS_V2 = [*INDICATORS_V1, {
    "code": COMPLAINTS,
    "indicator": "Persentase aduan masyarakat ditindaklanjuti dalam 7 hari",
    "kind": "tambahan", "aspect": "waktu", "direction": "higher_is_better",
    "unit_of_measure": "%"}]
#: v2 gives road users' voice more weight in the perilaku suggestion.
POLICY_V2 = {"feedback_weights": {"rater": "0.55", "peers_and_subordinates": "0.25",
                                  "citizens": "0.20"}}


@dataclass(frozen=True)
class UnitPlan:
    name: str
    region: str  # as in the head's title
    weight: int  # share of the officers
    districts: tuple[str, ...]  # one Satuan Pelaksana per kecamatan
    posts: tuple[str, ...]  # assigned intersections (or piers)


UNITS = (
    UnitPlan("Sudinhub Jakarta Pusat", "Kota Administrasi Jakarta Pusat", 19,
             ("Gambir", "Sawah Besar", "Kemayoran", "Senen", "Cempaka Putih", "Menteng",
              "Tanah Abang", "Johar Baru"),
             ("Simpang Harmoni", "Bundaran HI", "Simpang Senen", "Simpang Tugu Tani",
              "Simpang Kwitang", "Simpang Cempaka Mas", "Simpang Tanah Abang",
              "Simpang Sarinah")),
    UnitPlan("Sudinhub Jakarta Utara", "Kota Administrasi Jakarta Utara", 19,
             ("Penjaringan", "Pademangan", "Tanjung Priok", "Koja", "Kelapa Gading",
              "Cilincing"),
             ("Simpang Koja", "Simpang Plumpang", "Simpang Enggano", "Simpang Kelapa Gading",
              "Simpang Cakung Cilincing", "Simpang Pluit", "Simpang Ancol")),
    UnitPlan("Sudinhub Jakarta Barat", "Kota Administrasi Jakarta Barat", 19,
             ("Cengkareng", "Grogol Petamburan", "Taman Sari", "Tambora", "Kebon Jeruk",
              "Kalideres", "Palmerah", "Kembangan"),
             ("Simpang Grogol", "Simpang Tomang", "Simpang Slipi", "Simpang Kebon Jeruk",
              "Simpang Daan Mogot", "Simpang Cengkareng", "Simpang Kalideres")),
    UnitPlan("Sudinhub Jakarta Selatan", "Kota Administrasi Jakarta Selatan", 19,
             ("Tebet", "Setiabudi", "Mampang Prapatan", "Pasar Minggu", "Kebayoran Lama",
              "Cilandak", "Kebayoran Baru", "Pancoran", "Jagakarsa", "Pesanggrahan"),
             ("Simpang Kuningan", "Simpang Pancoran", "Simpang Mampang",
              "Simpang Fatmawati", "Simpang Lebak Bulus", "Simpang Pasar Minggu",
              "Simpang CSW", "Simpang Santa")),
    UnitPlan("Sudinhub Jakarta Timur", "Kota Administrasi Jakarta Timur", 19,
             ("Matraman", "Pulo Gadung", "Jatinegara", "Duren Sawit", "Kramat Jati",
              "Makasar", "Pasar Rebo", "Ciracas", "Cipayung", "Cakung"),
             ("Simpang Cawang", "Simpang Matraman", "Simpang Pulogadung",
              "Simpang Kampung Melayu", "Simpang Pasar Rebo", "Simpang Klender",
              "Simpang Kramat Jati")),
    UnitPlan("Sudinhub Kepulauan Seribu", "Kabupaten Administrasi Kepulauan Seribu", 5,
             ("Kepulauan Seribu Utara", "Kepulauan Seribu Selatan"),
             ("Dermaga Pulau Pramuka", "Dermaga Pulau Untung Jawa", "Dermaga Pulau Tidung",
              "Dermaga Pulau Pari", "Dermaga Pulau Kelapa")),
)
PUSAT, UTARA, BARAT, SELATAN, TIMUR, SERIBU = (u.name for u in UNITS)
#: Where each set piece happens (each in its own unit, so small demos still hold all).
PANEL_UNIT = SELATAN
CALIBRATION_UNIT = BARAT
LOCK_UNIT = SERIBU
APPEAL_UNITS = {"kept": TIMUR, "changed": SELATAN, "withdrawn": UTARA, "late": PUSAT}

MALE = ("Agus", "Ahmad", "Andi", "Arif", "Bambang", "Bayu", "Budi", "Darmawan", "Dedi",
        "Dimas", "Eko", "Fajar", "Firman", "Galih", "Gilang", "Hadi", "Hendra", "Heru",
        "Imam", "Irfan", "Iwan", "Joko", "Kurniawan", "Lukman", "Muhammad", "Nanang",
        "Rahmat", "Reza", "Rizky", "Rudi", "Sigit", "Slamet", "Sutrisno", "Taufik", "Teguh",
        "Wahyu", "Wawan", "Yoga", "Yusuf", "Zainal")
FEMALE = ("Ani", "Ayu", "Dewi", "Dian", "Dwi", "Eka", "Endang", "Fitri", "Indah", "Intan",
          "Kartika", "Lestari", "Maya", "Mega", "Novi", "Nur", "Putri", "Ratih", "Ratna",
          "Rina", "Rini", "Sari", "Septi", "Siti", "Sri", "Tri", "Tuti", "Vina", "Wulan",
          "Yuni")
FAMILY = ("Hidayat", "Santoso", "Wibowo", "Pratama", "Kusuma", "Nugroho", "Setiawan",
          "Siregar", "Nasution", "Simanjuntak", "Lubis", "Harahap", "Rahman", "Hakim",
          "Gunawan", "Susanto", "Purnomo", "Wijaya", "Hasibuan", "Sinaga", "Permana",
          "Hermawan", "Firmansyah", "Maulana", "Ramadhan", "Tambunan", "Sitompul",
          "Hutapea", "Syahputra", "Effendi")
FAMILY_FEMALE = ("Handayani", "Rahmawati", "Puspitasari", "Wulandari", "Kurniasih",
                 "Susanti", "Anggraini", "Maharani", "Fitriani", "Purwanti")
HEAD_TITLES = ("S.T., M.T.", "S.Si.T., M.T.", "S.E., M.M.", "S.H., M.Si.")
RATER_TITLES = ("S.Tr.Tra.", "S.Sos.", "S.T.", "S.Si.T.")
OFFICER_POSITIONS = ("Petugas Pengatur Lalu Lintas", "Petugas Lapangan Perhubungan",
                     "Petugas Patroli Lalu Lintas")

CITIZEN_COMMENTS = {
    5: ("Petugas sigap mengurai kemacetan di {post}, terima kasih.",
        "Pengaturan lalu lintas di {post} sangat tertib pagi ini."),
    4: ("Arus di {post} lancar, petugas terlihat di lokasi.",
        "Petugas di {post} membantu pejalan kaki menyeberang."),
    3: ("Petugas ada, tetapi antrean di {post} masih panjang saat jam sibuk.",
        "Penanganan di {post} cukup, perlu lebih tegas ke ojek yang ngetem."),
    2: ("Parkir liar di sekitar {post} dibiarkan cukup lama.",
        "Petugas di {post} baru datang setelah macet mengular."),
    1: ("Tidak ada petugas di {post} saat macet parah sore hari.",
        "Lampu lalu lintas {post} mati dan tidak ada pengaturan."),
}
PEER_COMMENTS = {
    BerakhlakValue.BERORIENTASI_PELAYANAN: "Ramah dan sabar melayani pengguna jalan.",
    BerakhlakValue.AKUNTABEL: "Disiplin dan tepat waktu mengisi laporan harian pos.",
    BerakhlakValue.KOMPETEN: "Menguasai prosedur penindakan dan rekayasa lalu lintas.",
    BerakhlakValue.HARMONIS: "Menjaga suasana kerja yang rukun di pos.",
    BerakhlakValue.LOYAL: "Menjaga nama baik instansi di lapangan dan media sosial.",
    BerakhlakValue.ADAPTIF: "Cepat menyesuaikan diri dengan pola pengalihan arus baru.",
    BerakhlakValue.KOLABORATIF: "Selalu membantu rekan saat pergantian shift.",
}
PERILAKU_NOTES = {
    Rating.DI_ATAS: "Menjadi teladan rekan satu pos dalam nilai ini bulan ini.",
    Rating.DI_BAWAH: "Perlu pembinaan: beberapa kali tercatat tidak sesuai dalam nilai ini.",
}
PREDIKAT_ORDER = (Predikat.SANGAT_KURANG, Predikat.KURANG, Predikat.BUTUH_PERBAIKAN,
                  Predikat.BAIK, Predikat.SANGAT_BAIK)
RATING_UP = {Rating.DI_BAWAH: Rating.SESUAI, Rating.SESUAI: Rating.DI_ATAS}


class StoreNotEmpty(DomainError):
    """The demo loads only into an empty store, so that it never mixes with real data."""

    code = "store-not-empty"
    kind = "conflict"


@dataclass(frozen=True)
class DemoSummary:
    """What the demo wrote, and where a newcomer can start looking."""

    seed: int
    months: int
    periods: list[str]
    #: Field officers per unit.
    units: dict[str, int]
    employees_registered: int
    evaluations: int
    events: int
    last_position: int | None
    #: Events by topic, over the whole log.
    events_by_topic: dict[str, int]
    #: Counts of the set pieces (late appeals refused, departures, overrides, ...).
    highlights: dict[str, int]
    rubric_id: str
    sample_evaluation_id: str
    sample_employee_id: str
    #: A day on which the sample evaluation's result stood as first delivered.
    as_of: date
    #: Actor id per role, to mint a token for each.
    actors: dict[str, str]
    started_at: datetime
    finished_at: datetime

    def count(self, topic_part: str) -> int:
        return sum(n for topic, n in self.events_by_topic.items() if topic_part in topic)


class DemoClock:
    """Simulated time: moves forward to each scheduled moment; every reading after that
    is one second later, so the commands of one moment keep their order."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def move_to(self, moment: datetime) -> None:
        # Never backwards: actions planned for one moment run after each other.
        if moment > self.now:
            self.now = moment


class Timeline:
    """Actions at moments, run in order of (moment, order of planning)."""

    def __init__(self) -> None:
        self._queue: list[tuple[datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self._planned = 0

    def at(self, moment: datetime, action: Callable[..., None], *args: Any) -> None:
        self._planned += 1
        heapq.heappush(self._queue, (moment, self._planned, action, args))

    def __len__(self) -> int:
        return len(self._queue)

    def run(self, clock: DemoClock,
            progress: Callable[[int, int], None] | None = None) -> None:
        total, done = len(self._queue), 0
        while self._queue:
            moment, _, action, args = heapq.heappop(self._queue)
            clock.move_to(moment)
            action(*args)
            done += 1
            if progress is not None:
                progress(done, total)


@dataclass
class Person:
    id: str
    name: str
    nip: str
    unit: str
    position: str
    female: bool
    index: int = 0
    rater: str = ""
    reviewer: str = ""
    satpel: str = ""
    post: str = ""
    skill: float = 0.0
    #: Violations at the post in an ordinary month: the basis of the target.
    violation_base: int = 0


@dataclass
class MonthPlan:
    """What one officer does in one month, drawn once from the seed."""

    citizen: list[tuple[str, int, int, str | None, str]]  # channel, week, score, comment, giver
    violation_factor: float
    patrol: Decimal
    complaints: Decimal
    perilaku: dict[BerakhlakValue, Rating]
    override: bool
    typo: bool


def period_of(month: int) -> str:
    return f"{YEAR}-{month:02d}"


def workday(year: int, month: int, n: int) -> date:
    """The n-th Monday-to-Friday of a month (month 13 is January of the next year)."""
    if month > 12:
        year, month = year + 1, month - 12
    day, seen = date(year, month, 1), 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == n:
                return day
        day += timedelta(days=1)


def moment(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=WIB)


def office_hours(rng: random.Random, day: date) -> datetime:
    return moment(day, 8) + timedelta(minutes=rng.randrange(8 * 60))


def bump(hk: Rating, pk: Rating) -> tuple[Rating, Rating]:
    """One step better: hasil kerja first, else perilaku; at the top, perilaku to Sesuai."""
    if hk in RATING_UP:
        return RATING_UP[hk], pk
    if pk in RATING_UP:
        return hk, RATING_UP[pk]
    return hk, Rating.SESUAI


def _clamp_score(value: float) -> int:
    return max(1, min(5, round(value)))


class _Demo:
    def __init__(self, app: AppraisalLedger, clock: DemoClock, employees: int, months: int,
                 seed: int) -> None:
        self.app = app
        #: Read for today's date without ticking it (only commands tick the clock).
        self.clock = clock
        self.officer_count = employees
        self.months = months
        self.seed = seed
        self.rng = random.Random(seed)
        self.timeline = Timeline()
        self.people: list[Person] = []
        self.officers: dict[str, list[Person]] = {}
        self.heads: dict[str, Person] = {}
        self.raters: dict[str, list[Person]] = {}
        self.by_id: dict[str, Person] = {}
        self.cycles: dict[str, str] = {}
        self.rubric_id = ""
        self.plans: dict[tuple[str, str], MonthPlan] = {}
        self.channel_counters: Counter[str] = Counter()
        self.peer_givers: dict[tuple[str, str], list[str]] = {}
        self.appeals: dict[str, str] = {}  # scenario -> evaluation id
        self.stats: Counter[str] = Counter()
        self.as_of: date | None = None
        self._used_names: set[str] = set()
        self._used_nips: set[str] = set()
        self._policies: dict[int, RubricPolicy] = {}

    # --- randomness: one stream per purpose, so actions never disturb each other --------

    def rng_for(self, *key: object) -> random.Random:
        return random.Random("/".join([str(self.seed), *(str(k) for k in key)]))

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _name(self, female: bool, titles: tuple[str, ...] = ()) -> str:
        rng = self.rng
        while True:
            first = rng.choice(FEMALE if female else MALE)
            family = rng.choice(FAMILY + (FAMILY_FEMALE if female else ()))
            name = first if rng.random() < 0.1 else f"{first} {family}"
            if name not in self._used_names:
                break
        self._used_names.add(name)
        return f"{name}, {rng.choice(titles)}" if titles else name

    def _nip(self, female: bool, born_from: int, born_to: int) -> str:
        """NIP PNS: birth date (8), appointment year and month (6), sex (1), number (3)."""
        rng = self.rng
        while True:
            born = date(rng.randint(born_from, born_to), rng.randint(1, 12),
                        rng.randint(1, 28))
            appointed = min(born.year + rng.randint(21, 28), 2024)
            nip = (f"{born:%Y%m%d}{appointed}{rng.randint(1, 12):02d}"
                   f"{2 if female else 1}{rng.randint(1, 999):03d}")
            if nip not in self._used_nips:
                self._used_nips.add(nip)
                return nip

    def _person(self, unit: str, position: str, born: tuple[int, int],
                titles: tuple[str, ...] = ()) -> Person:
        female = self.rng.random() < 0.3
        person = Person(id=self.new_id(), name=self._name(female, titles),
                        nip=self._nip(female, *born), unit=unit, position=position,
                        female=female)
        self.people.append(person)
        self.by_id[person.id] = person
        return person

    # --- the organisation ----------------------------------------------------------------

    def staff(self) -> None:
        counts = self._officers_per_unit()
        self.kadishub = self._person(DINAS, "Kepala Dinas Perhubungan Provinsi DKI Jakarta",
                                     (1966, 1972), HEAD_TITLES)
        index = 0
        for plan in UNITS:
            head = self._person(plan.name, f"Kepala Suku Dinas Perhubungan {plan.region}",
                                (1968, 1978), HEAD_TITLES)
            head.rater, head.reviewer = self.kadishub.id, ""
            self.heads[plan.name] = head
            n_raters = min(len(plan.districts), max(1, math.ceil(counts[plan.name] / 8)))
            raters = []
            for district in plan.districts[:n_raters]:
                rater = self._person(
                    plan.name, f"Kepala Satuan Pelaksana Perhubungan Kecamatan {district}",
                    (1975, 1988), RATER_TITLES)
                rater.rater, rater.reviewer, rater.satpel = head.id, self.kadishub.id, district
                raters.append(rater)
            self.raters[plan.name] = raters
            officers = []
            for n in range(counts[plan.name]):
                rater = raters[n % n_raters]
                officer = self._person(plan.name, self.rng.choice(OFFICER_POSITIONS),
                                       (1985, 2000))
                officer.index = index
                index += 1
                officer.rater, officer.reviewer = rater.id, head.id
                officer.satpel = rater.satpel
                officer.post = plan.posts[n % len(plan.posts)]
                officer.skill = self.rng.gauss(0, 1)
                officer.violation_base = self.rng.randint(20, 60)
                officers.append(officer)
            self.officers[plan.name] = officers

    def _officers_per_unit(self) -> dict[str, int]:
        """Proportional to the units' weights, at least one each (largest remainder)."""
        spare = self.officer_count - len(UNITS)
        total_weight = sum(u.weight for u in UNITS)
        exact = {u.name: spare * u.weight / total_weight for u in UNITS}
        counts = {name: 1 + math.floor(share) for name, share in exact.items()}
        left = self.officer_count - sum(counts.values())
        for name in sorted(exact, key=lambda n: (-(exact[n] % 1), n))[:left]:
            counts[name] += 1
        return counts

    def all_officers(self) -> list[Person]:
        return [o for plan in UNITS for o in self.officers[plan.name]]

    # --- the plan of the year ------------------------------------------------------------

    def schedule(self) -> None:
        tl = self.timeline
        setup = date(YEAR - 1, 12, 15)
        tl.at(moment(setup, 8), self.register_everyone)
        tl.at(moment(setup + timedelta(days=1), 9), self.assign_raters)
        tl.at(moment(setup + timedelta(days=2), 9), self.publish_first_rubric)
        tl.at(moment(setup + timedelta(days=3), 9), self.start_cycles)
        midyear = math.ceil(self.months / 2)
        tl.at(moment(date(YEAR, midyear, 15), 10), self.publish_second_rubric, midyear + 1)
        for month in range(1, self.months + 1):
            self.schedule_month(month)
        self.schedule_set_pieces()

    def schedule_month(self, month: int) -> None:
        tl, period = self.timeline, period_of(month)
        first = date(YEAR, month, 1)
        for n, plan in enumerate(UNITS):
            tl.at(moment(first, 7, n), self.open_period, plan.name, period)
            tl.at(moment(first, 7, 30 + n), self.start_evaluations, plan.name, period)
        last_day = calendar.monthrange(YEAR, month)[1]
        for week in range(1, 5):
            day = date(YEAR, month, 7 * week if week < 4 else last_day)
            for c, (channel, actor, _) in enumerate(CITIZEN_CHANNELS):
                for n, plan in enumerate(UNITS):
                    tl.at(moment(day, 22, 10 * c + n), self.citizen_batch, plan.name,
                          period, channel, actor, week)
        for officer in self.all_officers():
            rng = self.rng_for("schedule", officer.id, period)
            tl.at(office_hours(rng, workday(YEAR, month, rng.randint(1, 3))),
                  self.plan_evaluation, officer, period)
            tl.at(office_hours(rng, workday(YEAR, month, rng.randint(12, 17))),
                  self.peer_feedback, officer, period)
            tl.at(office_hours(rng, workday(YEAR, month + 1, rng.randint(1, 2))),
                  self.record_realisations, officer, period)
            tl.at(office_hours(rng, workday(YEAR, month + 1, rng.randint(3, 4))),
                  self.rate, officer, period)
            tl.at(office_hours(rng, workday(YEAR, month + 1, 5)), self.deliver, officer,
                  period)
        results_day = workday(YEAR, month + 1, 6)
        for n, plan in enumerate(UNITS):
            tl.at(moment(results_day, 9, n), self.set_organisational_result, plan.name,
                  period)
            tl.at(moment(results_day, 9, 30 + n), self.close_period, plan.name, period)
        if month <= max(self.months - 1, 1):
            # The last month's windows are still open when the demo ends: "due by" shows.
            due = workday(YEAR, month + 1, 5) + timedelta(days=14)
            for n, plan in enumerate(UNITS):
                tl.at(moment(due + timedelta(days=1), 6, n), self.record_lapses, plan.name,
                      period)

    def schedule_set_pieces(self) -> None:
        tl, first = self.timeline, period_of(1)
        tl.at(moment(workday(YEAR, 2, 7), 10), self.calibrate, CALIBRATION_UNIT, first)
        for hour, (scenario, unit) in enumerate(APPEAL_UNITS.items(), start=9):
            month = min(2, self.months) if scenario == "withdrawn" else 1
            period, due = period_of(month), workday(YEAR, month + 1, 5) + timedelta(days=14)
            if scenario == "late":
                tl.at(moment(due + timedelta(days=3), 10), self.file_late_appeal, unit,
                      period)
                continue
            tl.at(moment(workday(YEAR, month + 1, 7), hour), self.file_appeal, scenario,
                  unit, period)
            if scenario == "withdrawn":
                tl.at(moment(workday(YEAR, month + 1, 10), 15), self.withdraw_appeal)
                continue
            tl.at(moment(workday(YEAR, month + 1, 8), 10), self.request_explanations,
                  scenario)
            tl.at(moment(workday(YEAR, month + 1, 9), 9), self.explain, scenario)
            tl.at(moment(workday(YEAR, month + 1, 11), 14), self.decide_appeal, scenario)
        end = self.months + 1
        tl.at(moment(workday(YEAR, end, 8), 10), self.lock, LOCK_UNIT, "first")
        tl.at(moment(workday(YEAR, end, 9), 9), self.reopen, LOCK_UNIT)
        tl.at(moment(workday(YEAR, end, 9), 11), self.correct, LOCK_UNIT, first)
        tl.at(moment(workday(YEAR, end, 10), 10), self.lock, LOCK_UNIT, "again")

    # --- set-up --------------------------------------------------------------------------

    def register_everyone(self) -> None:
        for person in self.people:
            self.app.register_employee(employee_id=person.id, nip=person.nip,
                                       name=person.name, unit=person.unit,
                                       position=person.position, actor=ADMIN)
        self.stats["employees registered"] = len(self.people)

    def assign_raters(self) -> None:
        start = date(YEAR, 1, 1)
        for person in self.people:
            if person.rater:
                self.app.assign_rater(person.id, rater_id=person.rater, effective_from=start,
                                      actor=ADMIN)
            if person.reviewer:
                self.app.assign_reviewer(person.id, reviewer_id=person.reviewer,
                                         effective_from=start, actor=ADMIN)

    def publish_first_rubric(self) -> None:
        self.rubric_id = self.app.establish_rubric(
            code=RUBRIC_CODE, title="SKP bulanan petugas lapangan Dinas Perhubungan",
            actor=ADMIN).ids["rubric_id"]
        self.app.publish_rubric_version(
            self.rubric_id, version=1, effective_from=date(YEAR, 1, 1), policy={},
            indicators=INDICATORS_V1, actor=ADMIN,
            summary="Versi 1: penilaian bulanan petugas lapangan berdasarkan penurunan "
                    "pelanggaran di persimpangan penugasan, patroli tepat waktu dan "
                    "kepuasan pengguna jalan (PermenPANRB 6/2022; kurva distribusi SE "
                    "MenPANRB 3/2023).")

    def publish_second_rubric(self, month: int) -> None:
        self.app.publish_rubric_version(
            self.rubric_id, version=2, effective_from=date(YEAR, month, 1),
            policy=POLICY_V2, indicators=INDICATORS_V2, actor=ADMIN,
            summary="Versi 2: menambah indikator tindak lanjut aduan masyarakat dalam 7 "
                    "hari dan menaikkan bobot umpan balik pengguna jalan pada saran "
                    "perilaku kerja dari 0,15 menjadi 0,20 (rater 0,55).")

    def start_cycles(self) -> None:
        for plan in UNITS:
            self.cycles[plan.name] = self.app.start_cycle(
                unit=plan.name, year=YEAR, periodicity=Periodicity.MONTHLY,
                rubric_id=self.rubric_id, actor=ADMIN).ids["cycle_id"]
        self.app.name_appeal_panel(self.cycles[PANEL_UNIT], members=list(APPEAL_PANEL),
                                   actor=ADMIN)

    # --- every month ---------------------------------------------------------------------

    def open_period(self, unit: str, period: str) -> None:
        self.app.open_period(self.cycles[unit], period=period, actor=ADMIN)

    def start_evaluations(self, unit: str, period: str) -> None:
        self.app.start_evaluations(self.cycles[unit], period=period,
                                   employee_ids=[o.id for o in self.officers[unit]],
                                   actor=ADMIN)

    def evaluation_id(self, officer: Person, period: str) -> str:
        return str(Evaluation.id_for(officer.id, period))

    def policy(self, version: int) -> RubricPolicy:
        if version not in self._policies:
            self._policies[version] = self.app.get_rubric(self.rubric_id).policy(version)
        return self._policies[version]

    def month_plan(self, officer: Person, period: str) -> MonthPlan:
        key = (officer.id, period)
        if key not in self.plans:
            self.plans[key] = self._draw_month(officer, period)
        return self.plans[key]

    def _draw_month(self, officer: Person, period: str) -> MonthPlan:
        rng = self.rng_for("month", officer.id, period)
        month = int(period[-2:])
        channels = [c for c, _, _ in CITIZEN_CHANNELS]
        weights = [w for _, _, w in CITIZEN_CHANNELS]
        citizen = []
        for _ in range(rng.randint(3, 15)):
            score = _clamp_score(rng.gauss(3.9 + 0.4 * officer.skill, 0.9))
            comment = (rng.choice(CITIZEN_COMMENTS[score]).format(post=officer.post)
                       if rng.random() < 0.7 else None)
            citizen.append((rng.choices(channels, weights)[0], rng.randint(1, 4), score,
                            comment, f"warga:{rng.getrandbits(48):012x}"))
        perilaku = {}
        for value in BerakhlakValue:
            x = 0.5 * officer.skill + rng.gauss(0, 0.7)
            perilaku[value] = (Rating.DI_ATAS if x > 0.9 else
                               Rating.DI_BAWAH if x < -1.2 else Rating.SESUAI)
        # Violations fall over the year as the policy works: the factor rises by month.
        factor = rng.gauss(0.97 + 0.12 * officer.skill + 0.015 * (month - 1), 0.13)
        return MonthPlan(
            citizen=citizen, violation_factor=max(factor, 0.3),
            patrol=Decimal(str(min(100.0, round(rng.gauss(88 + 5 * officer.skill, 7), 1)))),
            complaints=Decimal(str(min(100.0, round(rng.gauss(86 + 8 * officer.skill, 8),
                                                     1)))),
            perilaku=perilaku,
            override=rng.random() < 0.04 or (month == 1 and officer.index == 0),
            typo=rng.random() < 0.02)

    def plan_evaluation(self, officer: Person, period: str) -> None:
        evaluation_id = self.evaluation_id(officer, period)
        evaluation = self.app.get_evaluation(evaluation_id)
        rubric = self.app.get_rubric(self.rubric_id)
        templates = rubric.versions[evaluation.rubric_version]["indicators"]
        targets = {VIOLATIONS: Decimal(officer.violation_base), PATROL: Decimal(90),
                   SATISFACTION: Decimal("4.00"), COMPLAINTS: Decimal(85)}
        supports = {
            VIOLATIONS: f"Menurunnya pelanggaran lalu lintas di Kecamatan {officer.satpel}",
            PATROL: f"Terlaksananya patroli terjadwal di Kecamatan {officer.satpel}",
            SATISFACTION: f"Meningkatnya kepuasan pengguna jalan di Kecamatan "
                          f"{officer.satpel}",
            COMPLAINTS: f"Tertanganinya aduan masyarakat di Kecamatan {officer.satpel}",
        }
        for template in templates:
            code = template["code"]
            indicator = template["indicator"]
            if code == VIOLATIONS:
                indicator = f"{indicator} ({officer.post})"
            self.app.plan_item(evaluation_id, item_id=code, kind=template["kind"],
                               aspect=template["aspect"], indicator=indicator,
                               target=targets[code], direction=template["direction"],
                               unit_of_measure=template["unit_of_measure"],
                               supports=supports[code], actor=officer.rater)
        self.app.fix_targets(evaluation_id, actor=officer.rater)

    def citizen_batch(self, unit: str, period: str, channel: str, actor: str,
                      week: int) -> None:
        items = []
        for officer in self.officers[unit]:
            for item_channel, item_week, score, comment, giver in self.month_plan(
                    officer, period).citizen:
                if (item_channel, item_week) != (channel, week):
                    continue
                items.append(dict(employee_id=officer.id, period=period,
                                  source=FeedbackSource.CITIZEN, giver_ref=giver,
                                  score=score, comment=comment, channel=channel,
                                  external_ref=self._channel_ref(channel, period)))
        if items:
            self.app.give_feedback_batch(items, actor=actor)
            self.stats["citizen feedback items"] += len(items)
            self.stats["citizen feedback batches"] += 1

    def _channel_ref(self, channel: str, period: str) -> str:
        self.channel_counters[channel] += 1
        n, compact = self.channel_counters[channel], period.replace("-", "")
        return {"JAKI": f"JAKI-{compact}-{n:07d}", "CRM": f"CRM/{period[:4]}/{n:06d}",
                "Qlue": f"QLUE-{n:08d}", "JakPotret": f"JP{compact}{n:06d}"}[channel]

    def peer_feedback(self, giver: Person, period: str) -> None:
        """Each officer comments on one or two colleagues of the same Satpel (or unit)."""
        colleagues = [o for o in self.officers[giver.unit]
                      if o.id != giver.id and o.satpel == giver.satpel]
        colleagues = colleagues or [o for o in self.officers[giver.unit] if o.id != giver.id]
        if not colleagues:
            return
        rng = self.rng_for("peer", giver.id, period)
        chosen = rng.sample(colleagues, min(len(colleagues), rng.randint(1, 2)))
        items = []
        for k, colleague in enumerate(chosen):
            value = rng.choice(list(BerakhlakValue))
            items.append(dict(
                employee_id=colleague.id, period=period, source=FeedbackSource.PEER,
                giver_ref=giver.id, score=_clamp_score(rng.gauss(3.8 + 0.3 * colleague.skill,
                                                                 0.7)),
                value=value, comment=PEER_COMMENTS[value], channel=PEER_CHANNEL,
                external_ref=f"umpan-balik/{period}/{giver.index:05d}-{k + 1}"))
            self.peer_givers.setdefault((colleague.id, period), []).append(giver.id)
        self.app.give_feedback_batch(items, actor=giver.id)
        self.stats["peer feedback items"] += len(items)

    def record_realisations(self, officer: Person, period: str) -> None:
        evaluation_id = self.evaluation_id(officer, period)
        evaluation = self.app.get_evaluation(evaluation_id)
        plan = self.month_plan(officer, period)
        rng = self.rng_for("realise", officer.id, period)
        scores = [score for _, _, score, _, _ in plan.citizen]
        values = {
            VIOLATIONS: Decimal(round(officer.violation_base / plan.violation_factor)),
            PATROL: plan.patrol,
            SATISFACTION: (Decimal(sum(scores)) / len(scores)).quantize(
                Decimal("0.01"), ROUND_HALF_UP),
            COMPLAINTS: plan.complaints,
        }
        notes = {
            VIOLATIONS: f"Rekap ETLE dan laporan harian pos {officer.post}",
            PATROL: "Rekap log GPS kendaraan patroli dan absensi pos",
            SATISFACTION: f"Rata-rata skor {len(scores)} umpan balik warga dari JAKI, CRM, "
                          f"Qlue dan JakPotret",
            COMPLAINTS: "Rekap tindak lanjut aduan CRM yang didisposisikan ke pos",
        }
        for item_id in evaluation.items:
            value = values[item_id]
            if plan.typo and item_id == VIOLATIONS:
                # A slip of the keyboard, corrected by a later realisation that supersedes it.
                self.app.record_realisation(
                    evaluation_id, item_id=item_id, value=value * 10,
                    evidence=[EVIDENCE_URL.format(f"{rng.getrandbits(64):016x}")],
                    note=notes[item_id], actor=officer.id)
                self.stats["realisations corrected before rating"] += 1
                notes[item_id] += " (koreksi salah ketik pada input sebelumnya)"
            self.app.record_realisation(
                evaluation_id, item_id=item_id, value=value,
                evidence=[EVIDENCE_URL.format(f"{rng.getrandbits(64):016x}")],
                note=notes[item_id], actor=officer.id)

    def rate(self, officer: Person, period: str) -> None:
        evaluation_id = self.evaluation_id(officer, period)
        evaluation = self.app.get_evaluation(evaluation_id)
        plan = self.month_plan(officer, period)
        policy = self.policy(evaluation.rubric_version)
        for item_id, item in evaluation.items.items():
            override, reason = None, None
            if plan.override and item_id == VIOLATIONS:
                computed = rate_capaian(capaian(Decimal(item["target"]),
                                                Decimal(item["realisation"]),
                                                Direction(item["direction"])), policy)
                override, reason = self._override(computed, officer)
                self.stats["item ratings overridden"] += 1
            self.app.rate_item(evaluation_id, item_id=item_id, override=override,
                               reason=reason, actor=officer.rater)
        for value, rating in plan.perilaku.items():
            self.app.rate_perilaku(evaluation_id, value=value, rating=rating,
                                   note=PERILAKU_NOTES.get(rating), actor=officer.rater)

    @staticmethod
    def _override(computed: Rating, officer: Person) -> tuple[Rating, str]:
        if computed is Rating.DI_ATAS:
            return Rating.SESUAI, (
                f"Kamera ETLE di {officer.post} mati 10 hari bulan ini, sehingga "
                f"pelanggaran tercatat terlalu rendah; capaian dinilai sesuai ekspektasi.")
        if computed is Rating.SESUAI:
            return Rating.DI_ATAS, (
                f"Selain menjaga {officer.post}, petugas menangani kecelakaan beruntun dan "
                f"mengatur pengalihan arus dua hari penuh; pelanggaran tetap di bawah target.")
        return Rating.SESUAI, (
            f"Persimpangan {officer.post} terdampak pengalihan arus proyek galian saluran "
            f"selama 9 hari; kenaikan pelanggaran di luar kendali petugas.")

    def deliver(self, officer: Person, period: str) -> None:
        # The rater's reason for departing from the weighted perilaku suggestion. The
        # ledger records it only when the perilaku kerja does depart (the summary counts
        # those from the log); passing it always keeps the demo independent of how the
        # ledger reads feedback (the API reads it from projections that may lag).
        self.app.deliver_result(
            self.evaluation_id(officer, period), actor=officer.rater,
            departure_reason="Penilaian perilaku kerja berdasarkan pengamatan langsung "
                             "atasan selama bulan berjalan di pos; umpan balik yang masuk "
                             "belum mencerminkan seluruh tugas lapangan.")

    def set_organisational_result(self, unit: str, period: str) -> None:
        rng = self.rng_for("unit-result", unit, period)
        result = OrganisationalResult.BAIK
        if unit not in (CALIBRATION_UNIT, LOCK_UNIT):
            result = rng.choices([OrganisationalResult.ISTIMEWA, OrganisationalResult.BAIK,
                                  OrganisationalResult.BUTUH_PERBAIKAN], [2, 7, 1])[0]
        self.app.set_organisational_result(self.cycles[unit], period=period, result=result,
                                           actor=ADMIN)

    def close_period(self, unit: str, period: str) -> None:
        self.app.close_period(self.cycles[unit], period=period, actor=ADMIN)

    def record_lapses(self, unit: str, period: str) -> None:
        for officer in self.officers[unit]:
            evaluation_id = self.evaluation_id(officer, period)
            if self.app.exists(Appeal.id_for(uuid.UUID(evaluation_id))):
                continue
            self.app.record_appeal_lapsed(evaluation_id, actor=ADMIN)
            self.stats["appeal windows lapsed"] += 1

    # --- set pieces ----------------------------------------------------------------------

    def _standing(self, unit: str, period: str) -> list[tuple[Person, Evaluation]]:
        """The unit's evaluations, weakest first (predikat, then how the items went)."""
        rows = [(o, self.app.get_evaluation(self.evaluation_id(o, period)))
                for o in self.officers[unit]]

        def strength(row: tuple[Person, Evaluation]) -> tuple[int, int, int]:
            officer, evaluation = row
            assert evaluation.result is not None
            points = sum({Rating.DI_BAWAH: 0, Rating.SESUAI: 1, Rating.DI_ATAS: 2}[
                Rating(i["rating"])] for i in evaluation.items.values())
            return (PREDIKAT_ORDER.index(Predikat(evaluation.result["predikat"])), points,
                    officer.index)
        return sorted(rows, key=strength)

    def calibrate(self, unit: str, period: str) -> None:
        """The unit's calibration session brings the spread within the curve for a unit
        whose result is Baik: at least one Butuh Perbaikan or Kurang, at most 70 % Baik."""
        session = f"KAL/{unit.upper().replace(' ', '-')}/{period}"
        standing = self._standing(unit, period)
        new: dict[str, tuple[Rating, Rating, str]] = {}

        def predikat_now(evaluation: Evaluation) -> Predikat:
            assert evaluation.result is not None
            return Predikat(evaluation.result["predikat"])

        low = (Predikat.BUTUH_PERBAIKAN, Predikat.KURANG)
        if not any(predikat_now(e) in low for _, e in standing):
            weakest = next((e for _, e in standing if predikat_now(e) is Predikat.BAIK), None)
            if weakest is not None:
                assert weakest.result is not None
                new[str(weakest.id)] = (
                    Rating.DI_BAWAH, Rating(weakest.result["perilaku_kerja"]),
                    f"Sidang kalibrasi {unit} {period}: hasil organisasi Baik mensyaratkan "
                    f"sekurang-kurangnya satu Butuh Perbaikan atau Kurang (SE MenPANRB "
                    f"3/2023); capaian hasil kerja terendah di unit.")
        baik = [e for _, e in reversed(standing)
                if predikat_now(e) is Predikat.BAIK and str(e.id) not in new]
        limit = Decimal("0.70") * len(standing)
        while baik and len(baik) > limit:
            strongest = baik.pop(0)
            new[str(strongest.id)] = (
                Rating.DI_ATAS, Rating.DI_ATAS,
                f"Sidang kalibrasi {unit} {period}: paling banyak 70 % Baik bagi unit "
                f"dengan hasil organisasi Baik; capaian dan perilaku termasuk tertinggi "
                f"di unit.")
        if not new:
            _, evaluation = standing[-1]
            assert evaluation.result is not None
            hk, pk = bump(Rating(evaluation.result["hasil_kerja"]),
                          Rating(evaluation.result["perilaku_kerja"]))
            new[str(evaluation.id)] = (hk, pk, f"Sidang kalibrasi {unit} {period}: "
                                               f"penyelarasan dengan umpan balik rekan kerja.")
        for evaluation_id, (hk, pk, reason) in new.items():
            self.app.calibrate_result(evaluation_id, session=session, hk=hk, pk=pk,
                                      reason=reason, actor=ADMIN)
            self.stats["results calibrated"] += 1

    def file_appeal(self, scenario: str, unit: str, period: str) -> None:
        officer, evaluation = self._standing(unit, period)[0]
        self.appeals[scenario] = str(evaluation.id)
        grounds = {
            "kept": "Saya keberatan: pelanggaran di pos saya naik karena lampu lalu lintas "
                    "rusak dua minggu, yang sudah saya laporkan.",
            "changed": "Saya keberatan: laporan patroli tanggal 12 sampai 18 tidak terbaca "
                       "karena perangkat GPS rusak; absensi pos menunjukkan saya bertugas.",
            "withdrawn": "Saya keberatan atas penilaian perilaku kerja bulan ini.",
        }[scenario]
        self.app.file_appeal(evaluation.id, grounds=grounds, actor=officer.id)
        if scenario == "changed":
            self.as_of = self.clock.now.date()
        self.stats[f"appeals filed ({scenario})"] += 1

    def _appeal(self, scenario: str) -> tuple[Appeal, Person]:
        appeal = self.app.get_appeal(Appeal.id_for(uuid.UUID(self.appeals[scenario])))
        return appeal, self.by_id[appeal.employee_id]

    def request_explanations(self, scenario: str) -> None:
        appeal, _ = self._appeal(scenario)
        reviewer = APPEAL_PANEL[0] if appeal.reviewer_kind == "panel" else appeal.reviewers[0]
        self.app.request_explanation(
            appeal.id, party="rater", actor=reviewer,
            question="Mohon penjelasan dasar penilaian hasil kerja beserta bukti dukungnya.")
        self.app.request_explanation(
            appeal.id, party="employee", actor=reviewer,
            question="Mohon lampirkan bukti yang mendukung keberatan Saudara.")

    def explain(self, scenario: str) -> None:
        appeal, officer = self._appeal(scenario)
        self.app.give_explanation(
            appeal.id, actor=appeal.rater_id,
            text="Penilaian mengikuti rekap ETLE dan log GPS patroli yang terlampir pada "
                 "realisasi; tidak ada laporan kerusakan yang masuk ke Satpel.")
        self.app.give_explanation(
            appeal.id, actor=officer.id,
            text="Terlampir surat keterangan bengkel perangkat dan absensi pos yang "
                 "ditandatangani koordinator lapangan.")

    def decide_appeal(self, scenario: str) -> None:
        appeal, _ = self._appeal(scenario)
        evaluation = self.app.get_evaluation(appeal.evaluation_id)
        assert evaluation.result is not None
        reviewer = APPEAL_PANEL[0] if appeal.reviewer_kind == "panel" else appeal.reviewers[0]
        if scenario == "kept":
            self.app.decide_appeal(
                appeal.id, outcome="kept", actor=reviewer,
                reasons="Laporan kerusakan lampu tidak tercatat di CRM maupun Satpel; data "
                        "ETLE konsisten. Hasil penilaian dipertahankan.")
        else:
            hk, pk = bump(Rating(evaluation.result["hasil_kerja"]),
                          Rating(evaluation.result["perilaku_kerja"]))
            self.app.decide_appeal(
                appeal.id, outcome="changed", hk=hk, pk=pk, actor=reviewer,
                reasons="Surat keterangan bengkel dan absensi pos membuktikan patroli "
                        "terlaksana; hasil kerja dinilai ulang satu tingkat lebih tinggi.")
        self.stats[f"appeals decided ({scenario})"] += 1

    def withdraw_appeal(self) -> None:
        appeal, officer = self._appeal("withdrawn")
        self.app.withdraw_appeal(appeal.id, actor=officer.id,
                                 reason="Setelah berdiskusi dengan Kepala Satpel, saya "
                                        "menerima penilaian dan mencabut keberatan.")
        self.stats["appeals withdrawn"] += 1

    def file_late_appeal(self, unit: str, period: str) -> None:
        """Filed three days after the window closed: refused, and nothing is written."""
        officer, evaluation = self._standing(unit, period)[0]
        try:
            self.app.file_appeal(evaluation.id, actor=officer.id,
                                 grounds="Saya baru sempat mengajukan keberatan atas hasil "
                                         "penilaian bulan lalu.")
        except AppealWindowClosed:
            self.stats["late appeals refused"] += 1
        else:  # pragma: no cover - the window rule is the domain's; this would be a bug
            raise AssertionError("a late appeal was accepted")

    def lock(self, unit: str, which: str) -> None:
        cycle_id = self.cycles[unit]
        try:
            self.app.lock_cycle(cycle_id, justification=None, actor=ADMIN)
        except DistributionBreach:
            # What an HR officer does when told the curve is breached: justify, on record.
            self.app.lock_cycle(
                cycle_id, actor=ADMIN,
                justification=f"{unit} hanya memiliki {len(self.officers[unit])} petugas "
                              f"lapangan; kurva distribusi tidak dapat dipenuhi secara "
                              f"proporsional. Disetujui Kepala BKD.")
            self.stats["locks with a distribution justification"] += 1
        self.stats["cycle locks"] += 1

    def reopen(self, unit: str) -> None:
        self.app.reopen_cycle(
            self.cycles[unit], actor=ADMIN,
            reason="Ditemukan kesalahan data GPS patroli bulan Januari pada satu petugas; "
                   "perlu koreksi hasil penilaian.",
            authority="Surat Kepala BKD Provinsi DKI Jakarta Nomor 812/KP.03.02 "
                      f"tanggal {self.clock.now:%d-%m-%Y}")
        self.stats["cycle reopenings"] += 1

    def correct(self, unit: str, period: str) -> None:
        _, evaluation = self._standing(unit, period)[0]
        assert evaluation.result is not None
        hk, pk = bump(Rating(evaluation.result["hasil_kerja"]),
                      Rating(evaluation.result["perilaku_kerja"]))
        self.app.correct_result(
            evaluation.id, hk=hk, pk=pk, actor=ADMIN,
            reason="Log GPS pengganti dari penyedia menunjukkan cakupan patroli 91 %, bukan "
                   "62 %; hasil kerja dikoreksi.")
        self.stats["results corrected"] += 1


def load_demo(app: AppraisalLedger, *, employees: int = 200, months: int = 6, seed: int = 7,
              progress: Callable[[int, int], None] | None = None) -> DemoSummary:
    """Fill an empty store with the demo: `employees` field officers over six Sudinhub
    units (plus their heads and raters), monthly periods January..`months` of 2026.

    Preconditions: the store holds no event; 6 <= employees; 1 <= months <= 12.
    `progress(done, total)` is called after each planned action.
    The app's clock is replaced by the simulated one while loading, then restored.
    """
    if isinstance(employees, bool) or not isinstance(employees, int) \
            or employees < MIN_EMPLOYEES:
        raise InvalidValue(f"the demo needs at least {MIN_EMPLOYEES} employees "
                           f"(one field officer per unit)")
    if isinstance(months, bool) or not isinstance(months, int) \
            or not 1 <= months <= MAX_MONTHS:
        raise InvalidValue(f"months must be from 1 to {MAX_MONTHS}")
    existing = app.recorder.max_notification_id() or 0
    if existing:
        raise StoreNotEmpty(f"the store already holds {existing} events; the demo loads "
                            f"only into an empty store")
    clock = DemoClock(moment(date(YEAR - 1, 12, 15), 7))
    started_at = clock.now
    demo = _Demo(app, clock, employees, months, seed)
    demo.staff()
    demo.schedule()
    saved_clock = app.clock
    app.clock = clock
    try:
        demo.timeline.run(clock, progress)
    finally:
        app.clock = saved_clock
    return _summarise(demo, started_at, clock.now)


def count_topics(app: AppraisalLedger, page: int = 1000) -> tuple[Counter[str], int | None]:
    """Events by topic over the whole log, and the last position."""
    topics: Counter[str] = Counter()
    last, start = None, 1
    while True:
        notifications = app.recorder.select_notifications(start, page)
        for notification in notifications:
            topics[notification.topic] += 1
            last = notification.id
        if len(notifications) < page:
            return topics, last
        start = notifications[-1].id + 1


def count_departures(app: AppraisalLedger, page: int = 1000) -> int:
    """Deliveries whose perilaku kerja departed from the weighted suggestion."""
    topic, count, start = "kinerja.evaluation.result-delivered.v1", 0, 1
    while True:
        notifications = app.recorder.select_notifications(start, page, topics=[topic])
        count += sum(app.mapper.to_domain_event(n).departure_reason is not None
                     for n in notifications)
        if len(notifications) < page:
            return count
        start = notifications[-1].id + 1


def _summarise(demo: _Demo, started_at: datetime, finished_at: datetime) -> DemoSummary:
    topics, last = count_topics(demo.app)
    demo.stats["perilaku departures with reason"] = count_departures(demo.app)
    sample_evaluation = demo.appeals["changed"]
    sample = demo.app.get_evaluation(sample_evaluation)
    employee = demo.by_id[sample.employee_id]
    givers = demo.peer_givers.get((employee.id, sample.period), [])
    peer = givers[0] if givers else next(o.id for o in demo.all_officers()
                                         if o.id != employee.id)
    assert demo.as_of is not None
    return DemoSummary(
        seed=demo.seed, months=demo.months,
        periods=[period_of(m) for m in range(1, demo.months + 1)],
        units={plan.name: len(demo.officers[plan.name]) for plan in UNITS},
        employees_registered=len(demo.people),
        evaluations=demo.officer_count * demo.months,
        events=sum(topics.values()), last_position=last,
        events_by_topic=dict(sorted(topics.items())),
        highlights=dict(sorted(demo.stats.items())),
        rubric_id=demo.rubric_id,
        sample_evaluation_id=sample_evaluation, sample_employee_id=employee.id,
        as_of=demo.as_of,
        actors={"admin": ADMIN, "rater": employee.rater, "employee": employee.id,
                "peer": peer, "citizen_channel": CITIZEN_CHANNELS[0][1],
                "inspector": INSPECTOR, "appeal_panel": APPEAL_PANEL[0]},
        started_at=started_at, finished_at=finished_at)
