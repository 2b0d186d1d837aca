#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/crypto/secret.hpp"

// Thin, typed wrappers over the OpenSSL 3 EVP primitives gdprctl uses. Nothing here is a
// home-made primitive: each function is one EVP call sequence. All throw Error::runtime when
// OpenSSL itself fails; authentication failures are reported by return value.
namespace gdprctl::crypto {

constexpr std::size_t k_key_size = 32;
constexpr std::size_t k_nonce_size = 12;
constexpr std::size_t k_tag_size = 16;

enum class Suite : unsigned char { aes256gcm = 1, chacha20poly1305 = 2 };

// Fills out with bytes from OpenSSL's private CSPRNG.
void random_bytes(unsigned char* out, std::size_t size);
SecretBytes random_key();

// HKDF-SHA256 (RFC 5869), extract and expand.
SecretBytes hkdf_sha256(const SecretBytes& ikm, std::string_view salt, std::string_view info, std::size_t size);
// HMAC-SHA256 of data under key.
Bytes hmac_sha256(const SecretBytes& key, const unsigned char* data, std::size_t size);
// scrypt (RFC 7914) with N = 2^log2_n.
SecretBytes scrypt(std::string_view passphrase, const Bytes& salt, unsigned log2_n, unsigned r, unsigned p,
                   std::size_t size);
Bytes sha256(const unsigned char* data, std::size_t size);

// SHA-256 over a stream of pieces.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const unsigned char* data, std::size_t size);
    std::string hex();  // finishes the digest

private:
    void* m_ctx;
};

// One AEAD context bound to a key, reusable for many messages (one per thread).
class Aead {
public:
    Aead(Suite suite, const SecretBytes& key);
    ~Aead();
    Aead(const Aead&) = delete;
    Aead& operator=(const Aead&) = delete;

    // out receives size bytes of ciphertext followed by the 16-byte tag.
    void seal(const unsigned char* nonce, const unsigned char* aad, std::size_t aad_size, const unsigned char* in,
              std::size_t size, unsigned char* out);
    // in holds ciphertext followed by the tag (size includes the tag). Writes size - 16 bytes
    // to out; returns false, with out to be discarded, when the tag does not verify.
    bool open(const unsigned char* nonce, const unsigned char* aad, std::size_t aad_size, const unsigned char* in,
              std::size_t size, unsigned char* out);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// The suite this CPU runs fastest: AES-256-GCM with AES-NI, else ChaCha20-Poly1305.
Suite preferred_suite();
bool valid_suite(unsigned char value);

// X25519 (RFC 7748).
struct X25519KeyPair {
    SecretBytes private_key;  // 32 bytes
    Bytes public_key;         // 32 bytes
};
X25519KeyPair x25519_generate();
Bytes x25519_public_from_private(const SecretBytes& private_key);
// The shared secret; throws Error::integrity when it is all zero (a low-order public key).
SecretBytes x25519_shared(const SecretBytes& private_key, const Bytes& peer_public);

// Ed25519 (RFC 8032, PureEdDSA): signatures over a whole message, keys as 32 raw bytes. The
// PEM forms (PKCS#8 private key, SubjectPublicKeyInfo public key) are those `openssl pkey` and
// `openssl pkeyutl -verify -rawin` read.
struct Ed25519KeyPair {
    SecretBytes private_key;
    Bytes public_key;
};
Ed25519KeyPair ed25519_generate();
Bytes ed25519_public_from_private(const SecretBytes& private_key);
Bytes ed25519_sign(const SecretBytes& private_key, std::string_view message);
bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature);
std::string ed25519_private_pem(const SecretBytes& private_key);
SecretBytes ed25519_private_from_pem(const std::string& pem);
std::string ed25519_public_pem(const Bytes& public_key);
// Error::usage when pem holds no Ed25519 public key.
Bytes ed25519_public_from_pem(const std::string& pem);

}  // namespace gdprctl::crypto
