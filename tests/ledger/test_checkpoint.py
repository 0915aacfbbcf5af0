"""C2SP checkpoints and signed notes, checked against golang.org/x/mod/sumdb/note's vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from domain.merkle import leaf_hash, root_from_leaf_hashes
from projections.checkpoint import (
    Checkpoint,
    CheckpointError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedKeyError,
    NoteSignature,
    UnexpectedOriginError,
    UnknownKeyError,
    generate_signer,
    key_id,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    verifier_key_from_signer,
    verify_checkpoint,
    verify_note,
)

# golang.org/x/mod/sumdb/note note_test.go (TestNewSigner, TestSign, TestOpen): the
# "PeterNeumann" and "EnochRoot" keys, a note text, and its expected signatures.
PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
NOTE_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIGNATURE_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIGNATURE_LINE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# A real checkpoint of the Go checksum database (sum.golang.org, tree size 63096908), as
# published in a public article; its signature verifies under the sum.golang.org key that
# cmd/go ships as the default GOSUMDB, which is what makes the copy trustworthy. Its origin
# differs from its key name, as tlog-checkpoint.md allows.
SUMDB_VERIFIER = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "63096908\n"
    "8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54=\n"
    "\n"
    "— sum.golang.org Az3gri/oVBN1jAhNZ/iS+W31psFAWRT20/GyrhpU6taFwulQGetBkH5S7wpGXdS935jiIGiUUAXBVHzT/P6fYhqAmAk=\n"
)

ORIGIN = "kinerja.example/ledger"
ROOT = root_from_leaf_hashes([leaf_hash(b"event %d" % i) for i in range(13)])


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_signer(ORIGIN)


@pytest.fixture(scope="module")
def signed(keys) -> str:
    return sign_checkpoint(ORIGIN, 13, ROOT, keys[0])


# ------------------------------------------------------------- published vectors


def test_signing_reproduces_the_sumdb_note_example_byte_for_byte():
    assert sign_note(NOTE_TEXT, PETER_SIGNER) == NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE


def test_the_key_id_is_the_truncated_sha256_of_name_newline_type_and_key():
    public_key = base64.b64decode(PETER_VERIFIER.split("+")[2])[1:]
    assert key_id("PeterNeumann", public_key).hex() == "c74f20a3"
    assert key_id("PeterNeumann", public_key) == hashlib.sha256(b"PeterNeumann\n\x01" + public_key).digest()[:4]


def test_the_verifier_key_derived_from_a_signer_key_is_the_published_one():
    assert verifier_key_from_signer(PETER_SIGNER) == PETER_VERIFIER


def test_a_note_with_two_signatures_verifies_under_each_key_and_keeps_the_other():
    note = NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE + ENOCH_SIGNATURE_LINE
    for verifier in (PETER_VERIFIER, ENOCH_VERIFIER):
        text, signatures = verify_note(note, verifier)
        assert text == NOTE_TEXT
        assert [(s.key_name, s.key_id.hex()) for s in signatures] == [
            ("PeterNeumann", "c74f20a3"),
            ("EnochRoot", "af0cfe78"),
        ]


def test_a_real_sum_golang_org_checkpoint_verifies():
    checkpoint = verify_checkpoint(SUMDB_CHECKPOINT, SUMDB_VERIFIER, expected_origin="go.sum database tree")
    assert checkpoint.size == 63096908
    assert checkpoint.root_hash == base64.b64decode("8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54=")
    assert checkpoint.signatures[0].key_id.hex() == "033de0ae"


def test_the_sumdb_invalid_messages_are_malformed():
    # note_test.go TestOpen "Invalid encoded message syntax".
    for message in [
        NOTE_TEXT,
        NOTE_TEXT + "\n",
        NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE[:-1],
        "\x01" + NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE,
        NOTE_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE + "Unexpected line.\n",
    ]:
        with pytest.raises(MalformedCheckpointError):
            verify_note(message, PETER_VERIFIER)
    with pytest.raises(MalformedCheckpointError):
        verify_note(b"\xff" + (NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE).encode(), PETER_VERIFIER)


def test_more_than_a_hundred_signatures_are_refused():
    with pytest.raises(MalformedCheckpointError):
        verify_note(NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE * 101, PETER_VERIFIER)


def test_a_mangled_verifier_key_is_refused():
    # note_test.go TestNewVerifier: every proper substring and every single-byte increment.
    for start in range(len(PETER_VERIFIER)):
        for end in range(start + 1, len(PETER_VERIFIER) + 1):
            if (start, end) != (0, len(PETER_VERIFIER)):
                with pytest.raises(MalformedKeyError):
                    verify_note(NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE, PETER_VERIFIER[start:end])
    for position in range(len(PETER_VERIFIER)):
        mangled = PETER_VERIFIER[:position] + chr(ord(PETER_VERIFIER[position]) + 1) + PETER_VERIFIER[position + 1 :]
        with pytest.raises(MalformedKeyError):
            verify_note(NOTE_TEXT + "\n" + PETER_SIGNATURE_LINE, mangled)


def test_a_mangled_signer_key_is_refused():
    # note_test.go TestNewSigner.
    for position in range(len(PETER_SIGNER)):
        mangled = PETER_SIGNER[:position] + chr(ord(PETER_SIGNER[position]) + 1) + PETER_SIGNER[position + 1 :]
        with pytest.raises(MalformedKeyError):
            sign_note(NOTE_TEXT, mangled)
    for end in range(len(PETER_SIGNER)):
        with pytest.raises(MalformedKeyError):
            sign_note(NOTE_TEXT, PETER_SIGNER[:end])


# ------------------------------------------------------------------- round trip


def test_a_generated_key_pair_belongs_together(keys):
    signer, verifier = keys
    assert signer.startswith(f"PRIVATE+KEY+{ORIGIN}+")
    assert verifier_key_from_signer(signer) == verifier
    name, id_hex, public_base64 = verifier.split("+", 2)
    assert name == ORIGIN
    assert key_id(name, base64.b64decode(public_base64)[1:]).hex() == id_hex


def test_a_checkpoint_is_three_lines_a_blank_line_and_a_signature_line(signed, keys):
    body, signature_line = signed.split("\n\n")
    assert body == f"{ORIGIN}\n13\n{base64.b64encode(ROOT).decode()}"
    assert signature_line.startswith(f"\u2014 {ORIGIN} ") and signature_line.endswith("\n")
    raw = base64.b64decode(signature_line.split(" ")[2])
    assert len(raw) == 4 + 64
    assert raw[:4].hex() == keys[1].split("+")[1]


def test_signing_then_verifying_gives_back_the_tree_head(signed, keys):
    checkpoint = verify_checkpoint(signed, keys[1], expected_origin=ORIGIN)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (ORIGIN, 13, ROOT)
    assert checkpoint.body + "\n" + checkpoint.signatures[0].line == signed
    assert parse_checkpoint(signed) == checkpoint
    assert verify_checkpoint(signed.encode("utf-8"), keys[1]) == checkpoint


def test_the_empty_tree_has_a_checkpoint_too(keys):
    empty = sign_checkpoint(ORIGIN, 0, hashlib.sha256().digest(), keys[0])
    assert verify_checkpoint(empty, keys[1]).size == 0


def test_parsing_alone_reads_but_does_not_trust(signed):
    tampered = signed.replace("\n13\n", "\n14\n")
    assert parse_checkpoint(tampered).size == 14


# ------------------------------------------------------------------- tampering


def test_any_altered_byte_is_detected(signed, keys):
    note = signed.encode("utf-8")
    for position in range(len(note)):
        for flip in (0x01, 0x20):
            altered = bytearray(note)
            altered[position] ^= flip
            with pytest.raises(CheckpointError):
                verify_checkpoint(bytes(altered), keys[1])


def test_any_altered_signature_bit_fails_as_an_invalid_signature(signed, keys):
    body, line = signed.split("\n\n")
    name, encoded = line[2:-1].split(" ")
    raw = base64.b64decode(encoded)
    for bit in range(32, len(raw) * 8):  # past the key id: the key still matches
        altered = bytearray(raw)
        altered[bit // 8] ^= 1 << bit % 8
        note = f"{body}\n\n\u2014 {name} {base64.b64encode(bytes(altered)).decode()}\n"
        with pytest.raises(InvalidSignatureError):
            verify_checkpoint(note, keys[1])


def test_a_different_spelling_of_the_same_signature_bytes_is_refused(signed, keys):
    # The last base64 digit before "=" carries 2 padding bits that decoders ignore.
    body, line = signed.split("\n\n")
    prefix, encoded = line[:-1].rsplit(" ", 1)
    assert encoded.endswith("=") and not encoded.endswith("==")
    digit = encoded[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = alphabet[alphabet.index(digit) ^ 1]
    respelled = f"{body}\n\n{prefix} {encoded[:-2]}{sibling}=\n"
    assert base64.b64decode(respelled.split(" ")[-1]) == base64.b64decode(encoded)
    with pytest.raises(MalformedCheckpointError):
        verify_checkpoint(respelled, keys[1])


def test_a_checkpoint_signed_by_another_key_is_not_trusted(signed):
    _, other_verifier = generate_signer(ORIGIN)  # same name, so only the key id differs
    with pytest.raises(UnknownKeyError):
        verify_checkpoint(signed, other_verifier)
    with pytest.raises(UnknownKeyError):
        verify_checkpoint(signed, PETER_VERIFIER)


def test_a_bad_signature_by_the_key_is_fatal_even_beside_a_good_one(signed, keys):
    body, line = signed.split("\n\n")
    forged = NoteSignature(ORIGIN, bytes.fromhex(keys[1].split("+")[1]), bytes(64))
    with pytest.raises(InvalidSignatureError):
        verify_checkpoint(f"{body}\n\n{line}{forged.line}", keys[1])


def test_signatures_by_unknown_keys_are_ignored(signed, keys):
    other_signer, other_verifier = generate_signer("witness.example/w1")
    cosigned = signed + sign_note(Checkpoint(ORIGIN, 13, ROOT).body, other_signer).split("\n\n")[1]
    assert len(verify_checkpoint(cosigned, keys[1]).signatures) == 2
    assert verify_checkpoint(cosigned, other_verifier).origin == ORIGIN


def test_a_checkpoint_from_another_log_is_refused(keys):
    other_log = sign_checkpoint("kinerja.example/other", 13, ROOT, keys[0])
    with pytest.raises(UnexpectedOriginError):
        verify_checkpoint(other_log, keys[1], expected_origin=ORIGIN)


def test_a_verifier_key_whose_id_does_not_match_its_key_is_refused(keys):
    name, _, key = keys[1].split("+", 2)
    with pytest.raises(MalformedKeyError):
        verify_checkpoint(sign_checkpoint(ORIGIN, 1, ROOT, keys[0]), f"{name}+00000000+{key}")


# ------------------------------------------------------------------ body format


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n13\n",  # two lines
        f"{ORIGIN}\n013\n{base64.b64encode(ROOT).decode()}\n",  # leading zero
        f"{ORIGIN}\n+13\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n1_3\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n\u0661\u0663\n{base64.b64encode(ROOT).decode()}\n",  # Arabic-Indic digits
        f"{ORIGIN}\n{2**64}\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n13\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short root
        f"{ORIGIN}\n13\n{ROOT.hex()}\n",  # hex, not base64
        f"\n13\n{base64.b64encode(ROOT).decode()}\n",  # empty origin
        f"{ORIGIN}\n13\n{base64.b64encode(ROOT).decode()}\n\nextension\n",  # empty line
    ],
)
def test_a_signed_body_that_is_not_a_checkpoint_is_malformed(body, keys):
    with pytest.raises(MalformedCheckpointError):
        verify_checkpoint(sign_note(body, keys[0]), keys[1])


def test_extension_lines_are_kept(keys):
    body = f"{ORIGIN}\n13\n{base64.b64encode(ROOT).decode()}\nextension one\n"
    checkpoint = verify_checkpoint(sign_note(body, keys[0]), keys[1])
    assert checkpoint.extension_lines == ("extension one",)
    assert checkpoint.body == body


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("", 1, ROOT), ("two\nlines", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 2**64, ROOT), (ORIGIN, 1, ROOT[:16])],
)
def test_nonsense_is_not_signed(origin, size, root, keys):
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint(origin, size, root, keys[0])


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there", "nbsp\u00a0here"])
def test_key_names_follow_the_note_rules(name):
    with pytest.raises(MalformedKeyError):
        generate_signer(name)
