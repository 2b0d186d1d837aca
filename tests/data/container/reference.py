#!/usr/bin/env python3
"""An independent implementation of the gdprctl container, version 1, written from
man/gdprctl-container.5 alone with the Python 'cryptography' package (no gdprctl code).

  reference.py vector OUT              write the test vector (key.hex, key-id.hex, plaintext.bin)
  reference.py stanza-vectors DIR      write the two stanza-rule vectors (identity.txt, plaintext.bin):
                                       low-order-first.gdpc, passphrase-beside-x25519.gdpc
  reference.py decrypt-key FILE HEX    decrypt a container sealed under a 32-byte key (hex), to stdout
  reference.py decrypt-x25519 FILE ID  decrypt with a gdprctl X25519 identity file, to stdout
  reference.py decrypt-passphrase FILE PASSFILE   decrypt a passphrase-sealed container, to stdout
  reference.py decrypt-keystore FILE STATE_DB MASTER   decrypt with the keystore of a state database
                                       (gdprctl-container(5), "Keys kept outside the file"); MASTER is
                                       the master key file, or passphrase:FILE for a passphrase keystore
"""
import hashlib
import hmac
import json
import os
import sqlite3
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import serialization

MAGIC = b"gdprctl\x01"
CHUNK = 65536
TAG = 16


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(ikm)


def aead(suite, key):
    return AESGCM(key) if suite == 1 else ChaCha20Poly1305(key)


def chunk_nonce(index, last):
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def preamble(suite, flags, object_id, created, tenant, salt):
    return (MAGIC + bytes([suite, 16, flags]) + object_id + struct.pack(">Q", created) +
            bytes([len(tenant)]) + tenant + salt)


def seal(plain, key_id, kek, tenant, created, random, suite=1):
    """One type 1 stanza: the key under kek, with a fresh nonce."""
    def key_stanza(dek, pre):
        nonce = random(12)
        return [(1, key_id + nonce + AESGCM(kek).encrypt(nonce, dek, pre))]
    return seal_stanzas(plain, tenant, created, random, key_stanza, suite)


def wrap_x25519(dek, pre, recipient_public, ephemeral_private=None, ephemeral_public=None):
    """Stanza type 2. ephemeral_public alone (no private key) makes a stanza nobody opens, as a
    low-order point does."""
    if ephemeral_public is None:
        ephemeral = X25519PrivateKey.from_private_bytes(ephemeral_private)
        ephemeral_public = ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                                               serialization.PublicFormat.Raw)
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    else:
        shared = b"\x00" * 32
    wrap = hkdf(shared, ephemeral_public + recipient_public, b"gdprctl/v1/x25519")
    return ephemeral_public + AESGCM(wrap).encrypt(b"\x00" * 12, dek, pre)


def wrap_passphrase(dek, pre, passphrase, salt, log2n=10, r=8, p=1):
    """Stanza type 3."""
    wrap = hashlib.scrypt(passphrase, salt=b"gdprctl/v1/scrypt" + salt, n=1 << log2n, r=r, p=p,
                          maxmem=256 * r * (1 << log2n), dklen=32)
    return salt + bytes([log2n, r, p]) + AESGCM(wrap).encrypt(b"\x00" * 12, dek, pre)


def seal_stanzas(plain, tenant, created, random, make_stanzas, suite=1):
    """A container whose stanzas make_stanzas(dek, preamble) returns as (type, body) pairs."""
    dek = random(32)
    object_id = random(16)
    salt = random(32)
    pre = preamble(suite, 0, object_id, created, tenant, salt)
    stanzas = make_stanzas(dek, pre)
    header = pre + bytes([len(stanzas)])
    for kind, body in stanzas:
        header += bytes([kind]) + struct.pack(">H", len(body)) + body
    mac = hmac.new(hkdf(dek, b"", b"gdprctl/v1/header"), header, hashlib.sha256).digest()
    cipher = aead(suite, hkdf(dek, salt, b"gdprctl/v1/payload" + bytes([suite])))
    chunks = [plain[i:i + CHUNK] for i in range(0, len(plain), CHUNK)] or [b""]
    out = [header + mac]
    for i, chunk in enumerate(chunks):
        out.append(cipher.encrypt(chunk_nonce(i, i == len(chunks) - 1), chunk, mac))
    return b"".join(out)


def parse(data):
    if data[:8] != MAGIC:
        raise ValueError("not a gdprctl container, version 1")
    suite, chunk_log2, flags = data[8], data[9], data[10]
    if chunk_log2 != 16 or flags != 0 or suite not in (1, 2):
        raise ValueError("unsupported parameters")
    object_id, created = data[11:27], struct.unpack(">Q", data[27:35])[0]
    tenant_len = data[35]
    pos = 36 + tenant_len
    salt = data[pos:pos + 32]
    pos += 32
    pre = data[:pos]
    count = data[pos]
    pos += 1
    stanzas = []
    for _ in range(count):
        kind, length = data[pos], struct.unpack(">H", data[pos + 1:pos + 3])[0]
        stanzas.append((kind, data[pos + 3:pos + 3 + length]))
        pos += 3 + length
    if count > 1 and any(kind == 3 for kind, _ in stanzas):
        raise ValueError("malformed header: a passphrase stanza must be the only one")
    header, mac = data[:pos], data[pos:pos + 32]
    return dict(suite=suite, salt=salt, pre=pre, stanzas=stanzas, header=header, mac=mac, payload=data[pos + 32:])


def open_payload(c, dek):
    expected = hmac.new(hkdf(dek, b"", b"gdprctl/v1/header"), c["header"], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, c["mac"]):
        raise ValueError("header MAC does not verify")
    cipher = aead(c["suite"], hkdf(dek, c["salt"], b"gdprctl/v1/payload" + bytes([c["suite"]])))
    payload, out, i = c["payload"], [], 0
    sealed = CHUNK + TAG
    while True:
        piece = payload[i * sealed:(i + 1) * sealed]
        last = (i + 1) * sealed >= len(payload)
        out.append(cipher.decrypt(chunk_nonce(i, last), piece, c["mac"]))
        if last:
            return b"".join(out)
        i += 1


def decrypt_with_key(data, kek):
    c = parse(data)
    for kind, body in c["stanzas"]:
        if kind == 1:
            dek = AESGCM(kek).decrypt(body[16:28], body[28:], c["pre"])
            return open_payload(c, dek)
    raise ValueError("no key stanza")


def decrypt_with_identity(data, private_bytes):
    c = parse(data)
    identity = X25519PrivateKey.from_private_bytes(private_bytes)
    mine = identity.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for kind, body in c["stanzas"]:
        if kind == 2:
            try:
                shared = identity.exchange(X25519PublicKey.from_public_bytes(body[:32]))
            except ValueError:
                continue  # a low-order point: an all-zero result opens nothing; try the next stanza
            wrap = hkdf(shared, body[:32] + mine, b"gdprctl/v1/x25519")
            try:
                dek = AESGCM(wrap).decrypt(b"\x00" * 12, body[32:], c["pre"])
            except Exception:
                continue
            return open_payload(c, dek)
    raise ValueError("no X25519 stanza for this identity")


def decrypt_with_passphrase(data, passphrase):
    c = parse(data)
    for kind, body in c["stanzas"]:
        if kind == 3:
            salt, log2n, r, p = body[:16], body[16], body[17], body[18]
            if not 10 <= log2n <= 22:
                raise ValueError("scrypt cost out of range")
            wrap = hashlib.scrypt(passphrase, salt=b"gdprctl/v1/scrypt" + salt, n=1 << log2n, r=r, p=p,
                                  maxmem=256 * r * (1 << log2n), dklen=32)
            dek = AESGCM(wrap).decrypt(b"\x00" * 12, body[19:], c["pre"])
            return open_payload(c, dek)
    raise ValueError("no passphrase stanza")


def first_line(path):
    return open(path, "rb").read().split(b"\n")[0].rstrip(b"\r")


def master_key(db, master):
    if master.startswith("passphrase:"):
        meta = dict(db.execute("SELECT key, value FROM meta"))
        params = json.loads(meta["master.scrypt"])
        log2n, r, p = params["log2_n"], params["r"], params["p"]
        wrap = hashlib.scrypt(first_line(master[len("passphrase:"):]), salt=bytes.fromhex(params["salt"]),
                              n=1 << log2n, r=r, p=p, maxmem=256 * r * (1 << log2n) + (1 << 20), dklen=32)
        sealed = bytes.fromhex(meta["master.wrapped"])
        return AESGCM(wrap).decrypt(sealed[:12], sealed[12:], b"gdprctl/v1/master")
    return bytes.fromhex(first_line(master).decode())


def decrypt_with_keystore(data, state_db, master):
    db = sqlite3.connect("file:" + state_db + "?mode=ro", uri=True)
    kek_of_master = master_key(db, master)
    c = parse(data)
    for kind, body in c["stanzas"]:
        key_id = body[:16].hex()
        row = db.execute("SELECT tenant, purpose, wrapped FROM keys WHERE id = ?", (key_id,)).fetchone()
        if kind != 1 or row is None:
            continue
        tenant, purpose, wrapped = row
        aad = ("gdprctl/v1/key|" + key_id + "|" + tenant + "|" + purpose).encode()
        kek = AESGCM(kek_of_master).decrypt(wrapped[:12], wrapped[12:], aad)
        dek = AESGCM(kek).decrypt(body[16:28], body[28:], c["pre"])
        return open_payload(c, dek)
    raise ValueError("no key stanza whose key is in this keystore")


def counting_random():
    state = {"n": 0}

    def take(size):
        out = bytes((state["n"] + i) % 251 for i in range(size))
        state["n"] += size
        return out
    return take


def main():
    command = sys.argv[1]
    if command == "vector":
        here = os.path.dirname(os.path.abspath(__file__))
        kek = bytes.fromhex(open(os.path.join(here, "key.hex")).read().strip())
        key_id = bytes.fromhex(open(os.path.join(here, "key-id.hex")).read().strip())
        plain = open(os.path.join(here, "plaintext.bin"), "rb").read()
        out = seal(plain, key_id, kek, b"acme", 1795392000, counting_random())
        open(sys.argv[2], "wb").write(out)
    elif command == "stanza-vectors":
        here = sys.argv[2]
        plain = open(os.path.join(here, "plaintext.bin"), "rb").read()
        lines = [l.strip() for l in open(os.path.join(here, "identity.txt")) if l.strip() and not l.startswith("#")]
        identity = X25519PrivateKey.from_private_bytes(bytes.fromhex(lines[0]))
        mine = identity.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        random = counting_random()
        low_order = seal_stanzas(plain, b"acme", 1795392000, random, lambda dek, pre: [
            (2, wrap_x25519(dek, pre, mine, ephemeral_public=b"\x00" * 32)),
            (2, wrap_x25519(dek, pre, mine, ephemeral_private=random(32)))])
        open(os.path.join(here, "low-order-first.gdpc"), "wb").write(low_order)
        random = counting_random()
        mixed = seal_stanzas(plain, b"acme", 1795392000, random, lambda dek, pre: [
            (3, wrap_passphrase(dek, pre, b"correct horse battery staple", random(16))),
            (2, wrap_x25519(dek, pre, mine, ephemeral_private=random(32)))])
        open(os.path.join(here, "passphrase-beside-x25519.gdpc"), "wb").write(mixed)
    elif command == "decrypt-keystore":
        sys.stdout.buffer.write(decrypt_with_keystore(open(sys.argv[2], "rb").read(), sys.argv[3], sys.argv[4]))
    elif command == "decrypt-key":
        sys.stdout.buffer.write(decrypt_with_key(open(sys.argv[2], "rb").read(), bytes.fromhex(sys.argv[3])))
    elif command == "decrypt-x25519":
        lines = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
        sys.stdout.buffer.write(decrypt_with_identity(open(sys.argv[2], "rb").read(), bytes.fromhex(lines[0])))
    elif command == "decrypt-passphrase":
        passphrase = first_line(sys.argv[3])
        sys.stdout.buffer.write(decrypt_with_passphrase(open(sys.argv[2], "rb").read(), passphrase))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
