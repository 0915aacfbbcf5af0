"""The web view's words in Bahasa Indonesia (the default) and English.

Values the API returns as codes (predikat, ratings, event kinds, quota bounds) are
translated here for display only; every page also carries the code itself in a
`data-value` attribute, so what is shown can be checked against the API's JSON.
Numbers are written the way each language writes them (a decimal comma in Indonesian),
from the API's own decimal text: never re-rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"

#: key -> (Bahasa Indonesia, English)
TEXT: dict[str, tuple[str, str]] = {
    # frame
    "app.title": ("Kinerja Ledger — tampilan pemeriksa", "Kinerja Ledger — inspector's view"),
    "nav.home": ("Daftar penilaian", "Evaluations"),
    "nav.signed_in_as": ("Masuk sebagai", "Signed in as"),
    "nav.logout": ("Keluar", "Sign out"),
    "nav.language": ("Bahasa", "Language"),
    "nav.print": ("Cetak halaman ini dari menu peramban.",
                  "Print this page from the browser's menu."),
    "asof.legend": ("Tampilkan seperti pada", "Show as it stood on"),
    "asof.date": ("Tanggal", "Date"),
    "asof.position": ("Posisi log", "Log position"),
    "asof.show": ("Tampilkan", "Show"),
    "asof.now": ("Kini", "Now"),
    "asof.current": ("Keadaan terkini, sampai posisi log {position}.",
                     "Current record, up to log position {position}."),
    "asof.past": ("Tampilan masa lalu: seperti pada {asked} (posisi log {position}). "
                  "Peristiwa sesudahnya tidak ditampilkan.",
                  "Past view: as it stood on {asked} (log position {position}). "
                  "Later events are not shown."),
    # login
    "login.title": ("Masuk", "Sign in"),
    "login.intro": ("Tempelkan token bearer Anda (dari `kinerja token` atau `kinerja demo`). "
                    "Halaman ini menerapkan hak baca yang sama dengan API.",
                    "Paste your bearer token (from `kinerja token` or `kinerja demo`). "
                    "These pages apply exactly the API's read scopes."),
    "login.token": ("Token", "Token"),
    "login.submit": ("Masuk", "Sign in"),
    "login.cookie": ("Token disimpan dalam cookie HttpOnly (SameSite=Strict) hanya untuk "
                     "halaman /ui/, dan dihapus saat Anda keluar.",
                     "The token is kept in an HttpOnly, SameSite=Strict cookie for the /ui/ "
                     "pages only, and removed when you sign out."),
    "login.failed": ("Token tidak diterima: {detail}", "The token was not accepted: {detail}"),
    "login.expired": ("Sesi Anda berakhir atau token tidak sah; silakan masuk lagi.",
                      "Your session ended or the token is not valid; please sign in again."),
    # home
    "home.title": ("Daftar penilaian", "Evaluations"),
    "home.scope_all": ("Peran Anda dapat membaca semua catatan.",
                       "Your role may read every record."),
    "home.scope_some": ("Anda melihat catatan Anda sendiri dan catatan pegawai yang Anda nilai.",
                        "You see your own records and those of the people you rate."),
    "home.filter": ("Saring", "Filter"),
    "home.none": ("Tidak ada penilaian yang cocok.", "No evaluation matches."),
    "home.next": ("Halaman berikutnya", "Next page"),
    "home.first": ("Halaman pertama", "First page"),
    "home.units": ("Unit", "Units"),
    # common words
    "word.employee": ("Pegawai", "Employee"),
    "word.evaluation": ("Penilaian", "Evaluation"),
    "word.unit": ("Unit", "Unit"),
    "word.period": ("Periode", "Period"),
    "word.year": ("Tahun", "Year"),
    "word.status": ("Status", "Status"),
    "word.hk": ("Hasil kerja", "Work results"),
    "word.pk": ("Perilaku kerja", "Work behaviour"),
    "word.hk_short": ("HK", "HK"),
    "word.pk_short": ("PK", "PK"),
    "word.predikat": ("Predikat", "Predikat"),
    "word.source": ("Sumber hasil", "Result from"),
    "word.rubric": ("Rubrik", "Rubric"),
    "word.version": ("versi", "version"),
    "word.position": ("Posisi", "Position"),
    "word.when": ("Kapan", "When"),
    "word.who": ("Siapa", "Who"),
    "word.what": ("Apa", "What"),
    "word.why": ("Mengapa", "Why"),
    "word.details": ("Rincian", "Details"),
    "word.none": ("—", "—"),
    "word.open": ("Buka", "Open"),
    "word.appeal": ("Keberatan", "Appeal"),
    "word.due_by": ("batas", "due by"),
    "word.delivered_on": ("Disampaikan", "Delivered"),
    "word.hidden": ("(disembunyikan)", "(hidden)"),
    "word.yes": ("ya", "yes"),
    "word.no": ("tidak", "no"),
    # employee page
    "employee.title": ("Pegawai {employee}", "Employee {employee}"),
    "employee.chart": ("Predikat, HK dan PK per periode", "Predikat, HK and PK per period"),
    "employee.chart_desc": ("Grafik predikat (atas) serta hasil kerja dan perilaku kerja "
                            "(bawah) per periode.",
                            "Chart of the predikat (top) and of work results and work "
                            "behaviour (bottom) per period."),
    "employee.changed_after": ("diubah sesudah disampaikan", "changed after delivery"),
    "employee.no_result": ("belum ada hasil", "no result yet"),
    "employee.results": ("Hasil per periode", "Results per period"),
    "employee.timeline": ("Linimasa peristiwa", "Timeline of events"),
    "employee.timeline_intro": ("Setiap peristiwa yang tercatat tentang pegawai ini, menurut "
                                "urutan log. Koreksi, kalibrasi, penyimpangan (override) dan "
                                "keberatan ditandai.",
                                "Everything recorded about this employee, in log order. "
                                "Corrections, calibrations, overrides and appeals are marked."),
    "employee.no_events": ("Belum ada peristiwa.", "No events yet."),
    "employee.none": ("Belum ada penilaian pada saat itu.", "No evaluation at that time."),
    # evaluation page
    "evaluation.title": ("Tanda terima penilaian", "Score receipt"),
    "evaluation.facts": ("Ringkasan", "Summary"),
    "evaluation.items": ("Hasil kerja: butir RHK", "Work results: plan items"),
    "evaluation.indicator": ("Indikator", "Indicator"),
    "evaluation.kind": ("Jenis", "Kind"),
    "evaluation.aspect": ("Aspek", "Aspect"),
    "evaluation.target": ("Target", "Target"),
    "evaluation.realisation": ("Realisasi", "Realisation"),
    "evaluation.direction": ("Arah", "Direction"),
    "evaluation.capaian": ("Capaian %", "Capaian %"),
    "evaluation.computed": ("Rating terhitung", "Computed rating"),
    "evaluation.rating": ("Rating akhir", "Final rating"),
    "evaluation.override": ("Penyimpangan dan alasannya", "Override and its reason"),
    "evaluation.evidence": ("Bukti dukung", "Evidence"),
    "evaluation.perilaku": ("Perilaku kerja: nilai BerAKHLAK", "Work behaviour: BerAKHLAK values"),
    "evaluation.value": ("Nilai", "Value"),
    "evaluation.suggestion": ("Saran dari umpan balik", "Suggestion from feedback"),
    "evaluation.departure": ("Alasan menyimpang dari saran",
                             "Reason for departing from the suggestion"),
    "evaluation.feedback": ("Umpan balik saat disampaikan", "Feedback at delivery"),
    "evaluation.feedback_source": ("Sumber", "Source"),
    "evaluation.feedback_count": ("Jumlah", "Count"),
    "evaluation.feedback_mean": ("Rata-rata", "Mean"),
    "evaluation.derivation": ("Penurunan hasil", "Derivation"),
    "evaluation.derivation_items": ("Rating butir: {above} di atas, {meets} sesuai, {below} di "
                                    "bawah ekspektasi ({utama_below} butir utama di bawah).",
                                    "Item ratings: {above} above, {meets} meeting, {below} "
                                    "below expectation ({utama_below} main items below)."),
    "evaluation.derivation_values": ("Nilai perilaku: {above} di atas, {meets} sesuai, {below} "
                                     "di bawah ekspektasi.",
                                     "Behaviour values: {above} above, {meets} meeting, "
                                     "{below} below expectation."),
    "evaluation.derivation_result": ("Hasil kerja dan perilaku kerja menurut kuadran rubrik "
                                     "memberi predikat:",
                                     "Work results and work behaviour give, by the rubric's "
                                     "matrix, the predikat:"),
    "evaluation.first_result": ("Hasil pertama yang disampaikan", "Result first delivered"),
    "evaluation.changes": ("Perubahan sesudah disampaikan", "Changes after delivery"),
    "evaluation.no_changes": ("Tidak ada perubahan sesudah disampaikan.",
                              "No change after delivery."),
    "evaluation.previous": ("Sebelumnya", "Before"),
    "evaluation.new": ("Sesudahnya", "After"),
    "evaluation.not_delivered": ("Hasil belum disampaikan.", "No result delivered yet."),
    "evaluation.proofs": ("Bukti Merkle setiap masukan", "Merkle proof of each input"),
    "evaluation.proofs_intro": ("Setiap peristiwa yang menjadi dasar hasil diperiksa oleh "
                                "server ini sekarang: data daunnya dihitung ulang dari peristiwa "
                                "yang tersimpan, bukti inklusi RFC 9162 dihitung sampai akar, "
                                "dan akar itu dibandingkan dengan checkpoint bertanda tangan "
                                "terbaru.",
                                "Every event the result rests on is checked by this server now: "
                                "its leaf is re-hashed from the event as stored, its RFC 9162 "
                                "inclusion proof is computed up to a root, and that root is "
                                "compared with the latest signed checkpoint."),
    "evaluation.topic": ("Peristiwa", "Event"),
    "evaluation.role": ("Peran", "Role"),
    "evaluation.leaf": ("Daun", "Leaf"),
    "evaluation.leaf_hash": ("Hash daun", "Leaf hash"),
    "evaluation.proof": ("Status bukti", "Proof status"),
    "evaluation.checkpoint": ("Checkpoint bertanda tangan terbaru", "Latest signed checkpoint"),
    "evaluation.tree_size": ("Ukuran pohon", "Tree size"),
    "evaluation.root": ("Hash akar", "Root hash"),
    "evaluation.signature": ("Tanda tangan", "Signature"),
    "evaluation.key": ("Kunci log", "Log key"),
    "evaluation.published": ("Diterbitkan", "Published"),
    "evaluation.summary_ok": ("{verified} dari {total} masukan terbukti ada di log, tidak diubah.",
                              "{verified} of {total} inputs proven in the log, unaltered."),
    "evaluation.bundle": ("Berkas bukti", "Evidence bundle"),
    "evaluation.bundle_json": ("JSON (untuk `kinerja verify-bundle`)",
                               "JSON (for `kinerja verify-bundle`)"),
    "evaluation.bundle_html": ("HTML siap cetak", "Printable HTML"),
    "evaluation.bundle_note": ("Berkas bukti selalu menunjukkan keadaan terkini.",
                               "A bundle always shows the current record."),
    # proof statuses
    "proof.verified": ("terbukti", "verified"),
    "proof.pending": ("menunggu checkpoint", "awaiting a checkpoint"),
    "proof.absent": ("belum masuk pohon Merkle", "not yet in the Merkle tree"),
    "proof.failed": ("GAGAL", "FAILED"),
    "proof.unavailable": ("ledger Merkle tidak berjalan di server ini",
                          "the Merkle ledger does not run in this server"),
    "proof.no_checkpoint": ("belum ada checkpoint yang diterbitkan",
                            "no checkpoint published yet"),
    "proof.signature_ok": ("sah untuk kunci log server", "valid for the server's log key"),
    "proof.signature_bad": ("TIDAK SAH", "NOT VALID"),
    # unit page
    "unit.title": ("Unit {unit}", "Unit {unit}"),
    "unit.chart": ("Sebaran predikat per periode terhadap kuota",
                   "Predikat distribution per period against the quota"),
    "unit.intro": ("Hasil organisasi unit menentukan kurva sebaran (SE MenPANRB 3/2023). "
                   "Setiap batas ditampilkan dengan bagian yang sebenarnya.",
                   "The unit's organisational result fixes the distribution curve (SE "
                   "MenPANRB 3/2023). Each bound is shown beside the actual share."),
    "unit.org_result": ("Hasil organisasi", "Organisational result"),
    "unit.delivered": ("{total} dari {enrolled} hasil disampaikan",
                       "{total} of {enrolled} results delivered"),
    "unit.quota": ("Kuota", "Quota"),
    "unit.actual": ("Sebenarnya", "Actual"),
    "unit.holds": ("Terpenuhi", "Holds"),
    "unit.all_hold": ("Sebaran memenuhi kurva.", "The distribution meets the curve."),
    "unit.breach": ("Sebaran melanggar kurva.", "The distribution breaches the curve."),
    "unit.no_org_result": ("Belum ada hasil organisasi: kuota belum berlaku.",
                           "No organisational result yet: no quota applies."),
    "unit.locked": ("Siklus dikunci", "Cycle locked"),
    "unit.reopened": ("Siklus dibuka kembali", "Cycle reopened"),
    "unit.no_periods": ("Unit ini tidak memiliki periode terbuka pada tahun {year} saat itu.",
                        "This unit had no open period in {year} at that time."),
    "unit.prev_year": ("Tahun sebelumnya", "Previous year"),
    "unit.next_year": ("Tahun berikutnya", "Next year"),
    "unit.count": ("Jumlah", "Count"),
    "unit.list": ("Penilaian periode ini", "Evaluations of this period"),
    # errors
    "error.title": ("Tidak dapat ditampilkan", "Cannot be shown"),
    "error.403": ("Anda tidak berhak membuka halaman ini.", "You may not open this page."),
    "error.404": ("Catatan ini tidak ada (pada saat itu).", "No such record (at that time)."),
    "error.back": ("Kembali ke daftar penilaian", "Back to the evaluations"),
    # chart
    "chart.legend_hk": ("Hasil kerja", "Work results"),
    "chart.legend_pk": ("Perilaku kerja", "Work behaviour"),
}

#: Codes the API returns, by kind of value: code -> (id, en).
VALUES: dict[str, tuple[str, str]] = {
    # predikat
    "sangat_baik": ("Sangat Baik", "Very good"),
    "baik": ("Baik", "Good"),
    "butuh_perbaikan": ("Butuh Perbaikan", "Needs improvement"),
    "kurang": ("Kurang/Misconduct", "Poor/Misconduct"),
    "sangat_kurang": ("Sangat Kurang", "Very poor"),
    # ratings
    "di_atas_ekspektasi": ("Di Atas Ekspektasi", "Above expectation"),
    "sesuai_ekspektasi": ("Sesuai Ekspektasi", "Meets expectation"),
    "di_bawah_ekspektasi": ("Di Bawah Ekspektasi", "Below expectation"),
    # organisational results
    "istimewa": ("Istimewa", "Outstanding"),
    # item kinds and aspects
    "utama": ("Utama", "Main"),
    "tambahan": ("Tambahan", "Additional"),
    "kuantitas": ("Kuantitas", "Quantity"),
    "kualitas": ("Kualitas", "Quality"),
    "waktu": ("Waktu", "Time"),
    "biaya": ("Biaya", "Cost"),
    "higher_is_better": ("makin tinggi makin baik", "higher is better"),
    "lower_is_better": ("makin rendah makin baik", "lower is better"),
    # BerAKHLAK
    "berorientasi_pelayanan": ("Berorientasi Pelayanan", "Service-oriented"),
    "akuntabel": ("Akuntabel", "Accountable"),
    "kompeten": ("Kompeten", "Competent"),
    "harmonis": ("Harmonis", "Harmonious"),
    "loyal": ("Loyal", "Loyal"),
    "adaptif": ("Adaptif", "Adaptive"),
    "kolaboratif": ("Kolaboratif", "Collaborative"),
    # statuses and result sources
    "planning": ("perencanaan", "planning"),
    "in_progress": ("berjalan", "in progress"),
    "under_review": ("sedang ditinjau", "under review"),
    "delivered": ("disampaikan", "delivered"),
    "appeal": ("keberatan", "appeal"),
    "calibration": ("kalibrasi", "calibration"),
    "correction": ("koreksi", "correction"),
    "not_filed": ("tidak diajukan", "not filed"),
    "filed": ("diajukan", "filed"),
    "decided": ("diputus", "decided"),
    "withdrawn": ("dicabut", "withdrawn"),
    "lapsed": ("lewat waktu", "lapsed"),
    "kept": ("dipertahankan", "kept"),
    "changed": ("diubah", "changed"),
    # timeline marks
    "override": ("penyimpangan rating", "override"),
    "appeal_decision": ("putusan keberatan", "appeal decision"),
    "departure": ("menyimpang dari saran", "departure from suggestion"),
    "reopening": ("pembukaan kembali", "reopening"),
    # proof input roles
    "evaluation": ("penilaian", "evaluation"),
    "rubric": ("rubrik", "rubric"),
    # feedback sources
    "rater": ("penilai", "rater"),
    "peer": ("rekan kerja", "peer"),
    "peers_and_subordinates": ("rekan dan bawahan", "peers and subordinates"),
    "subordinate": ("bawahan", "subordinate"),
    "citizen": ("warga", "citizen"),
    "citizens": ("warga", "citizens"),
    # quota bounds
    "max_share": ("paling banyak", "at most"),
    "min_share": ("paling sedikit", "at least"),
    "min_count": ("paling sedikit", "at least"),
}

#: Event kinds of the history (`<aggregate>.<event>`): (id, en).
EVENT_KINDS: dict[str, tuple[str, str]] = {
    "employee.registered": ("Pegawai didaftarkan", "Employee registered"),
    "employee.rater_assigned": ("Penilai ditetapkan", "Rater assigned"),
    "employee.reviewer_assigned": ("Atasan penilai ditetapkan", "Reviewer assigned"),
    "employee.transferred": ("Pegawai dimutasi", "Employee transferred"),
    "employee.employment_ended": ("Masa kerja berakhir", "Employment ended"),
    "evaluation.started": ("Penilaian dimulai", "Evaluation started"),
    "evaluation.item_planned": ("Butir RHK direncanakan", "Plan item added"),
    "evaluation.targets_fixed": ("Target ditetapkan", "Targets fixed"),
    "evaluation.realisation_recorded": ("Realisasi dicatat", "Realisation recorded"),
    "evaluation.item_rated": ("Butir dinilai", "Item rated"),
    "evaluation.perilaku_rated": ("Perilaku dinilai", "Behaviour value rated"),
    "evaluation.result_delivered": ("Hasil disampaikan", "Result delivered"),
    "evaluation.result_changed": ("Hasil diubah", "Result changed"),
    "evaluation.appeal_lapsed": ("Tenggat keberatan lewat", "Appeal window lapsed"),
    "feedback.given": ("Umpan balik diberikan", "Feedback given"),
    "appeal.filed": ("Keberatan diajukan", "Appeal filed"),
    "appeal.explanation_requested": ("Penjelasan diminta", "Explanation requested"),
    "appeal.explanation_given": ("Penjelasan diberikan", "Explanation given"),
    "appeal.decided": ("Keberatan diputus", "Appeal decided"),
    "appeal.withdrawn": ("Keberatan dicabut", "Appeal withdrawn"),
    "cycle.locked": ("Siklus dikunci", "Cycle locked"),
    "cycle.reopened": ("Siklus dibuka kembali", "Cycle reopened"),
    "employee.personal_data_shredded": ("Data pribadi dihapus (kunci dimusnahkan)",
                                        "Personal data shredded (key destroyed)"),
}

_DECIMAL = re.compile(r"^-?\d+\.\d+$")


class Translator:
    """`t(key, **fields)` for one language, and the formatting of API values."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._index = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **fields: Any) -> str:
        pair = TEXT.get(key)
        text = key if pair is None else pair[self._index]
        return text.format(**fields) if fields else text

    def value(self, code: Any) -> str:
        """A code the API returns, in words; an unknown code as it is."""
        if code is None:
            return "—"
        pair = VALUES.get(str(code))
        return str(code) if pair is None else pair[self._index]

    def event(self, kind: Any) -> str:
        pair = EVENT_KINDS.get(str(kind))
        return str(kind) if pair is None else pair[self._index]

    def number(self, text: Any) -> str:
        """A decimal the API gives as text, written in this language (no re-rounding)."""
        if text is None:
            return "—"
        value = str(text)
        if self.lang == "id" and _DECIMAL.match(value):
            return value.replace(".", ",")
        return value

    def share(self, fraction: Any) -> str:
        """A fraction such as "0.70" as a percentage, "70 %"."""
        try:
            percent = float(fraction) * 100
        except (TypeError, ValueError):
            return "—"
        shown = f"{percent:.0f}" if percent == int(percent) else f"{percent:.1f}"
        return self.number(shown) + " %"


def choose_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """The language asked for: the query, then the remembered choice, then the
    browser's preference (Indonesian unless English comes first), Indonesian by default."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    if accept:
        for part in accept.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("id") or tag.startswith("in"):
                return "id"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANGUAGE


def translators() -> dict[str, Callable[..., str]]:
    return {lang: Translator(lang) for lang in LANGUAGES}
