#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/container.hpp"
#include "core/state/state_db.hpp"

// The key hierarchy (man/gdprctl-keys.1): a master key, kept in a key file or derived from a
// passphrase with scrypt, wraps one data key per tenant (and one for platform-wide data). The
// data keys wrap the per-file keys of every container. Destroying a tenant's data key makes
// every container sealed for it unreadable (crypto-shredding) without touching the files.
namespace gdprctl::crypto {

struct ScryptParams {
    unsigned log2_n = 18;
    unsigned r = 8;
    unsigned p = 1;
};

// How the master key is reached. Exactly one of the two is used; the passphrase text is wiped
// by the keystore after use.
struct MasterSecret {
    std::optional<std::string> passphrase;
    std::optional<std::filesystem::path> key_file;  // overrides the key file recorded at init
};

struct KeyInfo {
    std::string id;
    std::string tenant;   // "" for the platform key
    std::string purpose;  // data, recipient
    std::string created;
    std::string destroyed;   // empty while the key exists
    std::string public_key;  // recipient keys: "gdprctl-x25519:<hex>"
};

struct DestroyReport {
    std::string tenant;
    std::vector<KeyInfo> keys;
    bool dry_run = false;
};

class Keystore {
public:
    explicit Keystore(state::StateDb& state);
    ~Keystore();

    bool initialised();
    std::string mode();  // "key-file" or "passphrase"
    std::optional<std::filesystem::path> recorded_key_file();
    // Creates the master key. Refuses when one exists (Error::usage): replacing it would
    // orphan every key it wraps; use rotate().
    void init_with_key_file(const std::filesystem::path& key_file);
    void init_with_passphrase(std::string passphrase, ScryptParams params = {});
    // Loads the master key; Error::usage naming what is wrong on a bad passphrase or key file.
    void unlock(MasterSecret secret);
    bool unlocked() const { return !m_master.empty(); }

    std::vector<KeyInfo> list();
    // The tenant's data key ("" = platform), created on first use unless it was destroyed.
    std::pair<std::string, SecretBytes> data_key(const std::string& tenant);
    // The key with this id; Error::integrity "destroyed on ..." for a shredded key.
    std::optional<SecretBytes> key_by_id(const std::string& id);
    std::optional<KeyInfo> destroyed_key(const std::string& id);
    std::optional<KeyInfo> destroyed_tenant(const std::string& tenant);
    bool key_exists(const std::string& id);
    // Keys for ContainerReader, looked up lazily in this keystore: data keys by id, and the
    // tenants' recipient keys for X25519 stanzas.
    Keyring keyring();

    // The tenant's X25519 recipient public key, created on first use (its private half is
    // wrapped by the master key like every other key).
    std::string recipient_public_key(const std::string& tenant);
    std::optional<SecretBytes> recipient_private_key(const std::string& tenant);
    // Every tenant's recipient private key: what opens containers sealed to 'keys export-public'.
    std::vector<SecretBytes> recipient_identities();

    // A new master key (and secret); every key is re-wrapped in one transaction. No container
    // changes: they are sealed under the data keys, which stay the same.
    void rotate(MasterSecret new_secret, ScryptParams params = {});
    // Crypto-shredding: overwrites and deletes every key of tenant, then checkpoints and
    // vacuums the database so no page keeps the wrapped bytes. Journaled.
    DestroyReport destroy_tenant(const std::string& tenant, bool dry_run);

private:
    void require_unlocked() const;
    SecretBytes unwrap(const std::string& id, const std::string& tenant, const std::string& purpose,
                       const Bytes& wrapped) const;
    Bytes wrap(const SecretBytes& master, const std::string& id, const std::string& tenant, const std::string& purpose,
               const SecretBytes& key) const;
    std::pair<std::string, SecretBytes> create_key(const std::string& tenant, const std::string& purpose,
                                                   const SecretBytes& key, const Bytes& public_key);
    void store_master(const SecretBytes& master, MasterSecret secret, ScryptParams params);
    std::optional<std::string> meta(const std::string& key);
    void set_meta(const std::string& key, const std::string& value);

    state::StateDb& m_state;
    SecretBytes m_master;
};

// Reads a passphrase (first line) or a key file; Error::usage when missing or unreadable.
std::string read_passphrase_file(const std::filesystem::path& path);
// "gdprctl-x25519:<64 hex>" <-> the 32 raw bytes; Error::usage on anything else.
std::string format_recipient(const Bytes& public_key);
Bytes parse_recipient(const std::string& text);
// An X25519 identity file: "# public: <recipient>\n<private hex>\n", written 0600 atomically.
void write_identity_file(const std::filesystem::path& path, const X25519KeyPair& pair);
SecretBytes read_identity_file(const std::filesystem::path& path);

// What the state database keeps sealed (a request's identifiers): AES-256-GCM under a key the
// platform key derives for purpose (HKDF info), bound to id as associated data, so a sealed value
// copied to another row does not open. nonce || ciphertext || tag. The keystore must be unlocked.
Bytes seal_with_platform_key(Keystore& keystore, std::string_view purpose, std::string_view id, std::string_view plain);
// nullopt when sealed does not open under that purpose and id.
std::optional<SecretBytes> open_with_platform_key(Keystore& keystore, std::string_view purpose, std::string_view id,
                                                  const Bytes& sealed);

}  // namespace gdprctl::crypto
