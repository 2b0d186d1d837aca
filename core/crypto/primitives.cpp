#include "core/crypto/primitives.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <memory>

#include "core/error.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::crypto {

namespace {

[[noreturn]] void openssl_failed(const char* what) {
    throw Error::runtime(std::string("OpenSSL: ") + what + " failed", "check the OpenSSL installation (libssl3)");
}

void require(int result, const char* what) {
    if (result <= 0) openssl_failed(what);
}

struct KdfFree {
    void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
    void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
    void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
    void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
    void operator()(BIO* bio) const { BIO_free(bio); }
};
template <typename T>
using Owned = std::unique_ptr<T, KdfFree>;

SecretBytes derive(const char* kdf_name, OSSL_PARAM* params, std::size_t size) {
    Owned<EVP_KDF> kdf(EVP_KDF_fetch(nullptr, kdf_name, nullptr));
    if (!kdf) openssl_failed(kdf_name);
    Owned<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) openssl_failed(kdf_name);
    SecretBytes out(size);
    require(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params), kdf_name);
    return out;
}

const EVP_CIPHER* cipher_of(Suite suite) {
    static EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    static EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    auto* cipher = suite == Suite::aes256gcm ? gcm : chacha;
    if (!cipher) openssl_failed("EVP_CIPHER_fetch");
    return cipher;
}

}  // namespace

void random_bytes(unsigned char* out, std::size_t size) {
    require(RAND_priv_bytes(out, static_cast<int>(size)), "RAND_priv_bytes");
}

SecretBytes random_key() {
    SecretBytes key(k_key_size);
    random_bytes(key.data(), key.size());
    return key;
}

SecretBytes hkdf_sha256(const SecretBytes& ikm, std::string_view salt, std::string_view info, std::size_t size) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(ikm.data()), ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
        OSSL_PARAM_construct_end()};
    return derive("HKDF", params, size);
}

SecretBytes scrypt(std::string_view passphrase, const Bytes& salt, unsigned log2_n, unsigned r, unsigned p,
                   std::size_t size) {
    std::uint64_t n = std::uint64_t{1} << log2_n;
    std::uint32_t r32 = r, p32 = p;
    // scrypt needs 128 * r * N bytes; OpenSSL's default ceiling (32 MiB) is below log2N = 18.
    std::uint64_t maxmem = (std::uint64_t{128} * r * n) + (std::uint64_t{64} << 20);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(passphrase.data()),
                                          passphrase.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt.data()), salt.size()),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end()};
    return derive("SCRYPT", params, size);
}

Bytes hmac_sha256(const SecretBytes& key, const unsigned char* data, std::size_t size) {
    Owned<EVP_MAC> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) openssl_failed("EVP_MAC_fetch(HMAC)");
    Owned<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac.get()));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    require(ctx ? 1 : 0, "EVP_MAC_CTX_new");
    require(EVP_MAC_init(ctx.get(), key.data(), key.size(), params), "EVP_MAC_init");
    require(EVP_MAC_update(ctx.get(), data, size), "EVP_MAC_update");
    Bytes out(32);
    std::size_t length = 0;
    require(EVP_MAC_final(ctx.get(), out.data(), &length, out.size()), "EVP_MAC_final");
    return out;
}

Bytes sha256(const unsigned char* data, std::size_t size) {
    Bytes out(32);
    unsigned int length = 0;
    require(EVP_Digest(data, size, out.data(), &length, EVP_sha256(), nullptr), "EVP_Digest");
    return out;
}

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new()) {
    if (!m_ctx) openssl_failed("EVP_MD_CTX_new");
    require(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_ctx), EVP_sha256(), nullptr), "DigestInit");
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx)); }

void Sha256::update(const unsigned char* data, std::size_t size) {
    require(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), data, size), "DigestUpdate");
}

std::string Sha256::hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    require(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(m_ctx), digest, &length), "DigestFinal");
    return util::to_hex(digest, length);
}

struct Aead::Impl {
    EVP_CIPHER_CTX* encrypt = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX* decrypt = EVP_CIPHER_CTX_new();
    ~Impl() {
        EVP_CIPHER_CTX_free(encrypt);
        EVP_CIPHER_CTX_free(decrypt);
    }
};

Aead::Aead(Suite suite, const SecretBytes& key) : m_impl(std::make_unique<Impl>()) {
    if (key.size() != k_key_size) throw Error::runtime("AEAD key must be 32 bytes");
    if (!m_impl->encrypt || !m_impl->decrypt) openssl_failed("EVP_CIPHER_CTX_new");
    // The key schedule is computed once here; each message only sets its nonce.
    require(EVP_EncryptInit_ex2(m_impl->encrypt, cipher_of(suite), key.data(), nullptr, nullptr), "EncryptInit");
    require(EVP_DecryptInit_ex2(m_impl->decrypt, cipher_of(suite), key.data(), nullptr, nullptr), "DecryptInit");
}

Aead::~Aead() = default;

void Aead::seal(const unsigned char* nonce, const unsigned char* aad, std::size_t aad_size, const unsigned char* in,
                std::size_t size, unsigned char* out) {
    auto* ctx = m_impl->encrypt;
    int length = 0;
    require(EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr), "EncryptInit(nonce)");
    if (aad_size) require(EVP_EncryptUpdate(ctx, nullptr, &length, aad, static_cast<int>(aad_size)), "AAD");
    if (size) require(EVP_EncryptUpdate(ctx, out, &length, in, static_cast<int>(size)), "EncryptUpdate");
    require(EVP_EncryptFinal_ex(ctx, out + size, &length), "EncryptFinal");
    require(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(k_tag_size), out + size), "GET_TAG");
}

bool Aead::open(const unsigned char* nonce, const unsigned char* aad, std::size_t aad_size, const unsigned char* in,
                std::size_t size, unsigned char* out) {
    if (size < k_tag_size) return false;
    auto* ctx = m_impl->decrypt;
    std::size_t body = size - k_tag_size;
    int length = 0;
    require(EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr), "DecryptInit(nonce)");
    if (aad_size) require(EVP_DecryptUpdate(ctx, nullptr, &length, aad, static_cast<int>(aad_size)), "AAD");
    if (body) require(EVP_DecryptUpdate(ctx, out, &length, in, static_cast<int>(body)), "DecryptUpdate");
    require(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(k_tag_size),
                                const_cast<unsigned char*>(in + body)),
            "SET_TAG");
    return EVP_DecryptFinal_ex(ctx, out + body, &length) > 0;
}

Suite preferred_suite() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("aes") ? Suite::aes256gcm : Suite::chacha20poly1305;
#else
    return Suite::aes256gcm;
#endif
}

bool valid_suite(unsigned char value) {
    return value == static_cast<unsigned char>(Suite::aes256gcm) ||
           value == static_cast<unsigned char>(Suite::chacha20poly1305);
}

X25519KeyPair x25519_generate() {
    X25519KeyPair pair{SecretBytes(k_key_size), {}};
    random_bytes(pair.private_key.data(), pair.private_key.size());
    pair.public_key = x25519_public_from_private(pair.private_key);
    return pair;
}

Bytes x25519_public_from_private(const SecretBytes& private_key) {
    Owned<EVP_PKEY> key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(), private_key.size()));
    if (!key) throw Error::integrity("not an X25519 private key (expected 32 bytes)");
    Bytes public_key(32);
    std::size_t length = public_key.size();
    require(EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length), "get_raw_public_key");
    return public_key;
}

SecretBytes x25519_shared(const SecretBytes& private_key, const Bytes& peer_public) {
    Owned<EVP_PKEY> own(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(), private_key.size()));
    Owned<EVP_PKEY> peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), peer_public.size()));
    if (!own || !peer) throw Error::integrity("not an X25519 key (expected 32 bytes)");
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
    require(ctx && EVP_PKEY_derive_init(ctx.get()) > 0 ? 1 : 0, "EVP_PKEY_derive_init");
    require(EVP_PKEY_derive_set_peer(ctx.get(), peer.get()), "EVP_PKEY_derive_set_peer");
    SecretBytes shared(32);
    std::size_t length = shared.size();
    // OpenSSL refuses an all-zero X25519 result (RFC 7748 §6.1), which is what a low-order
    // public key produces.
    if (EVP_PKEY_derive(ctx.get(), shared.data(), &length) <= 0 || length != 32)
        throw Error::integrity("X25519 key agreement failed: the public key is not a valid recipient key");
    return shared;
}

namespace {

Owned<EVP_PKEY> ed25519_private(const SecretBytes& private_key) {
    Owned<EVP_PKEY> key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(), private_key.size()));
    if (!key) throw Error::integrity("not an Ed25519 private key (expected 32 bytes)");
    return key;
}

Owned<EVP_PKEY> ed25519_public(const Bytes& public_key) {
    Owned<EVP_PKEY> key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
    if (!key) throw Error::integrity("not an Ed25519 public key (expected 32 bytes)");
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

Owned<BIO> bio_of(const std::string& text) {
    Owned<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    require(bio ? 1 : 0, "BIO_new_mem_buf");
    return bio;
}

}  // namespace

Ed25519KeyPair ed25519_generate() {
    Ed25519KeyPair pair{random_key(), {}};
    pair.public_key = ed25519_public_from_private(pair.private_key);
    return pair;
}

Bytes ed25519_public_from_private(const SecretBytes& private_key) {
    auto key = ed25519_private(private_key);
    Bytes public_key(32);
    std::size_t length = public_key.size();
    require(EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length), "get_raw_public_key");
    return public_key;
}

Bytes ed25519_sign(const SecretBytes& private_key, std::string_view message) {
    auto key = ed25519_private(private_key);
    Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    // PureEdDSA hashes the message itself: no digest is named, and signing is one shot.
    require(ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) > 0 ? 1 : 0,
            "EVP_DigestSignInit");
    Bytes signature(64);
    std::size_t length = signature.size();
    require(EVP_DigestSign(ctx.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()),
            "EVP_DigestSign");
    return signature;
}

bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature) {
    auto key = ed25519_public(public_key);
    Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    require(ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) > 0 ? 1 : 0,
            "EVP_DigestVerifyInit");
    return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::string ed25519_private_pem(const SecretBytes& private_key) {
    auto key = ed25519_private(private_key);
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    require(bio && PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ? 1 : 0,
            "PEM_write_bio_PrivateKey");
    return bio_text(bio.get());
}

SecretBytes ed25519_private_from_pem(const std::string& pem) {
    auto bio = bio_of(pem);
    Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
        throw Error::integrity("not an Ed25519 private key in PEM (PKCS#8) form");
    SecretBytes private_key(32);
    std::size_t length = private_key.size();
    require(EVP_PKEY_get_raw_private_key(key.get(), private_key.data(), &length), "get_raw_private_key");
    return private_key;
}

std::string ed25519_public_pem(const Bytes& public_key) {
    auto key = ed25519_public(public_key);
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    require(bio && PEM_write_bio_PUBKEY(bio.get(), key.get()) ? 1 : 0, "PEM_write_bio_PUBKEY");
    return bio_text(bio.get());
}

Bytes ed25519_public_from_pem(const std::string& pem) {
    auto bio = bio_of(pem);
    Owned<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
        throw Error::usage("not an Ed25519 public key in PEM form",
                           "give the key 'gdprctl certificate pubkey' prints (-----BEGIN PUBLIC KEY-----)");
    Bytes public_key(32);
    std::size_t length = public_key.size();
    require(EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length), "get_raw_public_key");
    return public_key;
}

}  // namespace gdprctl::crypto
