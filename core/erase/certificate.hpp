#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/primitives.hpp"

// Deletion certificates (man gdprctl-certificate(1)). A certificate is a JSON document:
//   {"certificate": {...what was erased, how, and how it was verified...},
//    "signature": {"algorithm": "Ed25519", "public_key": PEM, "value": base64}}
// The signature covers exactly signed_bytes(document["certificate"]), so anyone can check it
// with OpenSSL alone.
namespace gdprctl::erase {

// The key that signs certificates: <state dir>/signing.key, an Ed25519 private key in PKCS#8
// PEM, written 0600 atomically on first use.
class SigningKey {
public:
    static SigningKey load_or_create(const std::filesystem::path& state_dir);
    // nullopt when the state directory has no signing key yet.
    static std::optional<SigningKey> load(const std::filesystem::path& state_dir);

    const crypto::Bytes& public_key() const { return m_public; }
    std::string public_pem() const { return crypto::ed25519_public_pem(m_public); }
    crypto::Bytes sign(std::string_view message) const { return crypto::ed25519_sign(m_private, message); }

private:
    explicit SigningKey(crypto::SecretBytes private_key);

    crypto::SecretBytes m_private;
    crypto::Bytes m_public;
};

// The key of the certificates' identifier hashes: <state dir>/identifier-hash.key, 32 random
// bytes as 64 hex digits, written 0600 atomically on first use. A certificate names a person
// only as HMAC-SHA256(key, salt || kind ":" value), so nobody without the key can test guesses
// (an IPv4 address or a numeric user id is quickly guessed from a plain salted hash). The
// platform keeps the key and may give an auditor a copy to check the hashes.
class IdentifierHashKey {
public:
    static IdentifierHashKey load_or_create(const std::filesystem::path& state_dir);
    static std::filesystem::path path_in(const std::filesystem::path& state_dir);

    // 64 hex digits: HMAC-SHA256(key, salt || text), salt as the certificate shows it.
    std::string hash(const std::string& salt, const std::string& text) const;
    // The first 16 hex digits of SHA-256("gdprctl/v1/identifier-key-id" || key): names the key
    // in certificates without revealing it.
    const std::string& id() const { return m_id; }

private:
    explicit IdentifierHashKey(crypto::SecretBytes key);

    crypto::SecretBytes m_key;
    std::string m_id;
};

// The bytes the signature covers: the certificate object serialised as compact JSON with keys
// in byte order, strings in UTF-8 as they are (only '"', '\' and control characters escaped),
// integers in decimal. Python's json.dumps(c, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False) gives the same bytes.
std::string signed_bytes(const nlohmann::json& certificate);

// {"certificate": body, "signature": {...}} signed with key.
nlohmann::json sign_certificate(const nlohmann::json& body, const SigningKey& key);

// A certificate read from its text (a file a stranger may have written): Error::integrity when
// it is not JSON, when one object names a member twice, when a number is not an integer, or
// when it holds members the signature does not cover. Such a document
// could show one reader other content than the signature covers.
nlohmann::json parse_certificate(const std::string& text);

struct CertificateCheck {
    bool valid = false;
    std::string problem;     // why it is not valid
    bool key_given = false;  // checked against a key the caller trusts, not only the embedded one
    std::string request;
};

// Checks the document's signature with trusted_key, or with the key it carries when none is
// given (which shows it was not changed since signing, not who signed it).
CertificateCheck check_certificate(const nlohmann::json& document, const std::optional<crypto::Bytes>& trusted_key);

// For people: the certificate as Markdown or as one self-contained HTML page.
std::string certificate_markdown(const nlohmann::json& document);
std::string certificate_html(const nlohmann::json& document);

}  // namespace gdprctl::erase
