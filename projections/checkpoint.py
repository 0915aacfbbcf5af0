"""Signed tree heads as C2SP checkpoints: signed notes with Ed25519 keys.

A checkpoint is a signed note (c2sp.org/signed-note) whose text is (c2sp.org/tlog-checkpoint)::

    <origin>\\n
    <tree size, decimal, no leading zeros>\\n
    <base64 RFC 9162 root hash>\\n

then a blank line, then one or more signature lines::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n

Keys use the text forms of golang.org/x/mod/sumdb/note, so Go's ``note.NewVerifier`` and
``note.Open`` (and transparency-dev/formats' ``log.ParseCheckpoint``) accept our notes::

    verifier key  <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
    signer key    PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>

The signer key is a secret: whoever holds it can sign checkpoints for the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "InvalidSignatureError",
    "MalformedCheckpointError",
    "MalformedKeyError",
    "NoteSignature",
    "UnexpectedOriginError",
    "UnknownKeyError",
    "generate_signer",
    "key_id",
    "parse_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "verifier_key_from_signer",
    "verify_checkpoint",
    "verify_note",
]

# Signature type byte for Ed25519: signed-note.md "Signature types" (0x01); the same
# value is note.go's `algEd25519`. It prefixes the public key both in the key id hash
# and in the base64 of the verifier and signer key strings.
ED25519_SIGNATURE_TYPE = b"\x01"
# Em dash U+2014 then a space opens each signature line: signed-note.md "Format";
# note.go `sigPrefix = []byte("— ")`.
SIGNATURE_LINE_PREFIX = "\u2014 "
# The literal that marks a signer key: note.go NewSigner / GenerateKey.
SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
# signed-note.md asks verifiers to cap signatures (and accept at least 16); note.go Open
# refuses more than 100 as a malformed note. We take note.go's number.
MAX_SIGNATURES = 100
# Key ids are the first 4 bytes of SHA-256(name || 0x0A || type || public key):
# signed-note.md "Signatures"; note.go keyHash.
KEY_ID_SIZE = 4
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
# Root hashes are SHA-256 (tlog-checkpoint.md "Note text": an RFC 6962 tree).
ROOT_HASH_SIZE = 32
# tlog-checkpoint.md: the size is decimal ASCII "with no leading zeroes"; note.go's
# sibling sumdb/tlog parses it as a uint64.
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_MAX_TREE_SIZE = 2**64 - 1
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


class CheckpointError(ValueError):
    """A checkpoint, signed note or key string that cannot be trusted or used."""


class MalformedCheckpointError(CheckpointError):
    """The text is not a well-formed signed note, or its body is not a checkpoint."""


class MalformedKeyError(CheckpointError):
    """A verifier or signer key string that is not in the sumdb/note format."""


class UnknownKeyError(CheckpointError):
    """The note carries no signature by the key it is verified with."""


class InvalidSignatureError(CheckpointError):
    """A signature that names the verifying key (name and id) does not verify."""


class UnexpectedOriginError(CheckpointError):
    """A validly signed checkpoint from a log other than the one expected."""


@dataclass(frozen=True)
class NoteSignature:
    key_name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIGNATURE_LINE_PREFIX}{self.key_name} {encoded}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    signatures: tuple[NoteSignature, ...] = ()
    extension_lines: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The signed note text."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        extensions = "".join(f"{line}\n" for line in self.extension_lines)
        return f"{self.origin}\n{self.size}\n{root}\n{extensions}"


@dataclass(frozen=True)
class _Key:
    name: str
    key_id: bytes
    key: bytes


# ------------------------------------------------------------------------- keys


def key_id(key_name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || public key)[:4], signed-note.md "Ed25519 signatures"."""
    digest = hashlib.sha256(key_name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + public_key).digest()
    return digest[:KEY_ID_SIZE]


def _is_valid_key_name(name: str) -> bool:
    # signed-note.md "Format": non-empty, no Unicode spaces, no "+" (the key string separator).
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and _has_no_controls(name)


def _has_no_controls(text: str) -> bool:
    return not any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _decode_canonical_base64(text: str) -> bytes:
    """Standard base64 (RFC 4648 section 4) in its one canonical spelling.

    Python, like Go's non-strict decoder, ignores non-zero padding bits, so two spellings
    decode alike; re-encoding refuses the other one, keeping every byte of a note significant.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _parse_key(key_string: str, *, what: str, key_size: int) -> _Key:
    parts = key_string.split("+", 2)
    if len(parts) != 3:
        raise MalformedKeyError(f"{what} key is not <name>+<key id>+<key>")
    name, key_id_hex, key_base64 = parts
    if not _is_valid_key_name(name):
        raise MalformedKeyError(f"{what} key has an invalid name {name!r}")
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise MalformedKeyError(f"{what} key id {key_id_hex!r} is not 8 hex digits")
    try:
        typed_key = _decode_canonical_base64(key_base64)
    except ValueError as error:
        raise MalformedKeyError(f"{what} key material is {error}") from None
    if typed_key[:1] != ED25519_SIGNATURE_TYPE:
        raise MalformedKeyError(f"{what} key is not an Ed25519 (type 0x01) key")
    if len(typed_key) != 1 + key_size:
        raise MalformedKeyError(f"{what} key is {len(typed_key) - 1} bytes, expected {key_size}")
    return _Key(name=name, key_id=bytes.fromhex(key_id_hex), key=typed_key[1:])


def _parse_verifier_key(verifier_key: str) -> tuple[_Key, Ed25519PublicKey]:
    parsed = _parse_key(verifier_key, what="verifier", key_size=ED25519_PUBLIC_KEY_SIZE)
    if key_id(parsed.name, parsed.key) != parsed.key_id:
        raise MalformedKeyError("verifier key id does not match its name and public key")
    return parsed, Ed25519PublicKey.from_public_bytes(parsed.key)


def _parse_signer_key(signer_key: str) -> tuple[_Key, Ed25519PrivateKey]:
    if not signer_key.startswith(SIGNER_KEY_PREFIX):
        raise MalformedKeyError(f"signer key does not start with {SIGNER_KEY_PREFIX!r}")
    parsed = _parse_key(signer_key[len(SIGNER_KEY_PREFIX) :], what="signer", key_size=ED25519_SEED_SIZE)
    private_key = Ed25519PrivateKey.from_private_bytes(parsed.key)
    # The id names the public key, so it can only be checked once that is derived.
    if key_id(parsed.name, private_key.public_key().public_bytes_raw()) != parsed.key_id:
        raise MalformedKeyError("signer key id does not match its name and key")
    return parsed, private_key


def _key_strings(name: str, private_key: Ed25519PrivateKey) -> tuple[str, str]:
    public = private_key.public_key().public_bytes_raw()
    id_hex = key_id(name, public).hex()
    seed_base64 = base64.b64encode(ED25519_SIGNATURE_TYPE + private_key.private_bytes_raw()).decode("ascii")
    public_base64 = base64.b64encode(ED25519_SIGNATURE_TYPE + public).decode("ascii")
    return f"{SIGNER_KEY_PREFIX}{name}+{id_hex}+{seed_base64}", f"{name}+{id_hex}+{public_base64}"


def generate_signer(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair as ``(signer key string, verifier key string)``."""
    if not _is_valid_key_name(name):
        raise MalformedKeyError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")
    return _key_strings(name, Ed25519PrivateKey.generate())


def verifier_key_from_signer(signer_key: str) -> str:
    """The public verifier key string that belongs to a signer key string."""
    parsed, private_key = _parse_signer_key(signer_key)
    return _key_strings(parsed.name, private_key)[1]


# ------------------------------------------------------------------------ notes


def sign_note(text: str, signer_key: str) -> str:
    """``text`` (ending in a newline) followed by a blank line and one signature line."""
    parsed, private_key = _parse_signer_key(signer_key)
    if not text.endswith("\n") or not _has_no_controls(text):
        raise MalformedCheckpointError("note text must end in a newline and hold no control characters")
    signature = NoteSignature(parsed.name, parsed.key_id, private_key.sign(text.encode("utf-8")))
    return f"{text}\n{signature.line}"


def _split_note(note: str | bytes) -> tuple[str, tuple[NoteSignature, ...]]:
    """Note text and signatures, unverified; rules of signed-note.md "Format" and note.go Open."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCheckpointError("note is not valid UTF-8") from None
    if not _has_no_controls(note):
        raise MalformedCheckpointError("note contains control characters")
    # The text may itself hold blank lines: the last one separates it from the signatures.
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedCheckpointError("note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block.endswith("\n"):
        raise MalformedCheckpointError("note has no signature lines, or they do not end in a newline")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedCheckpointError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_LINE_PREFIX):
            raise MalformedCheckpointError("signature line does not start with an em dash and a space")
        name, _, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
        if not _is_valid_key_name(name):
            raise MalformedCheckpointError(f"signature line has an invalid key name {name!r}")
        try:
            raw = _decode_canonical_base64(encoded)
        except ValueError as error:
            raise MalformedCheckpointError(f"signature is {error}") from None
        if len(raw) <= KEY_ID_SIZE:
            raise MalformedCheckpointError("signature holds no more than a key id")
        signatures.append(NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return text, tuple(signatures)


def verify_note(note: str | bytes, verifier_key: str) -> tuple[str, tuple[NoteSignature, ...]]:
    """The note's text and all its signatures, once every signature by ``verifier_key`` verifies.

    Signatures by other keys are ignored (signed-note.md: verifiers MUST ignore unknown
    keys), and returned unverified. Raises UnknownKeyError if the key did not sign at all,
    InvalidSignatureError if any of its signatures fails.
    """
    key, public_key = _parse_verifier_key(verifier_key)
    text, signatures = _split_note(note)
    ours = [s for s in signatures if s.key_name == key.name and s.key_id == key.key_id]
    if not ours:
        raise UnknownKeyError(f"note is not signed by {key.name}+{key.key_id.hex()}")
    for signature in ours:
        try:
            public_key.verify(signature.signature, text.encode("utf-8"))
        except InvalidSignature:
            raise InvalidSignatureError(f"invalid signature by {key.name}+{key.key_id.hex()}") from None
    return text, signatures


# ------------------------------------------------------------------ checkpoints


def _parse_body(text: str, signatures: tuple[NoteSignature, ...]) -> Checkpoint:
    # tlog-checkpoint.md "Note text": at least three non-empty lines; origin, size, root,
    # then optional non-empty extension lines.
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedCheckpointError("checkpoint body needs three or more non-empty lines")
    origin, size_text, root_text, *extension_lines = lines
    if not _TREE_SIZE.fullmatch(size_text) or int(size_text) > _MAX_TREE_SIZE:
        raise MalformedCheckpointError(f"tree size {size_text!r} is not a canonical 64-bit decimal")
    try:
        root_hash = _decode_canonical_base64(root_text)
    except ValueError as error:
        raise MalformedCheckpointError(f"root hash is {error}") from None
    if len(root_hash) != ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"root hash is {len(root_hash)} bytes, expected {ROOT_HASH_SIZE}")
    return Checkpoint(origin, int(size_text), root_hash, signatures, tuple(extension_lines))


def sign_checkpoint(origin: str, size: int, root: bytes, signer_key: str) -> str:
    """The checkpoint note for tree ``(size, root)`` of log ``origin``, signed with ``signer_key``.

    tlog-checkpoint.md asks that the key name match the origin; that is the caller's choice
    of key, not checked here.
    """
    if not origin or "\n" in origin or not _has_no_controls(origin):
        raise MalformedCheckpointError("origin must be one non-empty line without control characters")
    if not 0 <= size <= _MAX_TREE_SIZE:
        raise MalformedCheckpointError(f"tree size {size} is outside 0..2**64-1")
    if len(root) != ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"root hash is {len(root)} bytes, expected {ROOT_HASH_SIZE}")
    return sign_note(Checkpoint(origin, size, bytes(root)).body, signer_key)


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """The checkpoint in ``text`` with its signatures, NONE of them verified.

    For display and diagnosis only; trust comes from ``verify_checkpoint``.
    """
    body, signatures = _split_note(text)
    return _parse_body(body, signatures)


def verify_checkpoint(
    text: str | bytes, verifier_key: str, *, expected_origin: str | None = None
) -> Checkpoint:
    """The checkpoint in ``text``, once its signature by ``verifier_key`` verifies.

    The body is read only after the signature checks out (signed-note.md: the text MUST be
    ignored until then). Give ``expected_origin`` so that a checkpoint which the same key
    signed for another log is refused.
    """
    body, signatures = verify_note(text, verifier_key)
    checkpoint = _parse_body(body, signatures)
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise UnexpectedOriginError(f"checkpoint is for {checkpoint.origin!r}, expected {expected_origin!r}")
    return checkpoint
