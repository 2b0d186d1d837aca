#include "core/crypto/keystore.hpp"

#include <openssl/crypto.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/util/fs.hpp"
#include "core/util/hex.hpp"
#include "core/util/time.hpp"

namespace gdprctl::crypto {

namespace {

constexpr char k_master_check[] = "gdprctl/v1/master-check";
constexpr char k_master_aad[] = "gdprctl/v1/master";
constexpr char k_recipient_prefix[] = "gdprctl-x25519:";

Bytes bytes_of(const SQLite::Column& column) {
    auto* data = static_cast<const unsigned char*>(column.getBlob());
    return Bytes(data, data + column.getBytes());
}

std::string check_value(const SecretBytes& master) {
    auto mac = hmac_sha256(master, reinterpret_cast<const unsigned char*>(k_master_check), sizeof k_master_check - 1);
    return util::to_hex(mac.data(), mac.size());
}

// nonce || AES-256-GCM(key, nonce, aad, secret) || tag
Bytes seal_secret(const SecretBytes& key, std::string_view aad, const SecretBytes& secret) {
    Bytes out(k_nonce_size + secret.size() + k_tag_size);
    random_bytes(out.data(), k_nonce_size);
    Aead(Suite::aes256gcm, key)
        .seal(out.data(), reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), secret.data(), secret.size(),
              out.data() + k_nonce_size);
    return out;
}

std::optional<SecretBytes> open_secret(const SecretBytes& key, std::string_view aad, const Bytes& sealed) {
    if (sealed.size() < k_nonce_size + k_tag_size) return std::nullopt;
    SecretBytes secret(sealed.size() - k_nonce_size - k_tag_size);
    if (!Aead(Suite::aes256gcm, key)
             .open(sealed.data(), reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
                   sealed.data() + k_nonce_size, sealed.size() - k_nonce_size, secret.data()))
        return std::nullopt;
    return secret;
}

std::string wipe_after_use(std::string& text) {
    std::string copy = text;
    OPENSSL_cleanse(text.data(), text.size());
    text.clear();
    return copy;
}

SecretBytes read_key_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error::usage("cannot read key file " + path.string(), "check the path and its permissions");
    std::string line;
    std::getline(in, line);
    auto bytes = util::from_hex(line);
    OPENSSL_cleanse(line.data(), line.size());
    if (!bytes || bytes->size() != k_key_size)
        throw Error::usage("key file " + path.string() + " does not hold a gdprctl master key (64 hex digits)");
    SecretBytes key(bytes->data(), bytes->size());
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return key;
}

void write_key_file(const std::filesystem::path& path, const SecretBytes& key) {
    auto hex = util::to_hex(key.data(), key.size()) + "\n";
    util::write_file_atomically(path, hex, 0600, util::Replace::never);
    OPENSSL_cleanse(hex.data(), hex.size());
}

std::string new_key_id() {
    unsigned char id[k_key_id_size];
    random_bytes(id, sizeof id);
    return util::to_hex(id, sizeof id);
}

KeyInfo key_info_from(SQLite::Statement& query) {
    KeyInfo info;
    info.id = query.getColumn(0).getString();
    info.tenant = query.getColumn(1).getString();
    info.purpose = query.getColumn(2).getString();
    info.created = query.getColumn(3).getString();
    info.destroyed = query.getColumn(4).getString();
    if (!query.getColumn(5).isNull()) info.public_key = format_recipient(bytes_of(query.getColumn(5)));
    return info;
}

}  // namespace

Keystore::Keystore(state::StateDb& state) : m_state(state) {}
Keystore::~Keystore() = default;

std::optional<std::string> Keystore::meta(const std::string& key) {
    SQLite::Statement query(m_state.db(), "SELECT value FROM meta WHERE key = ?");
    query.bind(1, key);
    if (!query.executeStep()) return std::nullopt;
    return query.getColumn(0).getString();
}

void Keystore::set_meta(const std::string& key, const std::string& value) {
    SQLite::Statement query(m_state.db(), "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    query.bind(1, key);
    query.bind(2, value);
    query.exec();
}

bool Keystore::initialised() { return meta("master.mode").has_value(); }
std::string Keystore::mode() { return meta("master.mode").value_or(""); }

std::optional<std::filesystem::path> Keystore::recorded_key_file() {
    auto path = meta("master.key_file");
    if (!path) return std::nullopt;
    return std::filesystem::path(*path);
}

void Keystore::store_master(const SecretBytes& master, MasterSecret secret, ScryptParams params) {
    set_meta("master.check", check_value(master));
    set_meta("master.created", util::format_iso8601(util::now()));
    if (secret.key_file) {
        set_meta("master.mode", "key-file");
        set_meta("master.key_file", std::filesystem::absolute(*secret.key_file).string());
        m_state.db().exec("DELETE FROM meta WHERE key IN ('master.scrypt', 'master.wrapped')");
        return;
    }
    auto passphrase = wipe_after_use(*secret.passphrase);
    Bytes salt(32);
    random_bytes(salt.data(), salt.size());
    auto wrap_key = scrypt(passphrase, salt, params.log2_n, params.r, params.p, k_key_size);
    OPENSSL_cleanse(passphrase.data(), passphrase.size());
    auto sealed = seal_secret(wrap_key, k_master_aad, master);
    set_meta("master.mode", "passphrase");
    set_meta("master.scrypt", nlohmann::json{{"salt", util::to_hex(salt.data(), salt.size())},
                                             {"log2_n", params.log2_n},
                                             {"r", params.r},
                                             {"p", params.p}}
                                  .dump());
    set_meta("master.wrapped", util::to_hex(sealed.data(), sealed.size()));
    m_state.db().exec("DELETE FROM meta WHERE key = 'master.key_file'");
}

void Keystore::init_with_key_file(const std::filesystem::path& key_file) {
    if (initialised())
        throw Error::usage("the keystore already has a master key (" + mode() + ")",
                           "use 'gdprctl keys rotate' to replace it");
    util::refuse_existing(key_file);
    auto master = random_key();
    write_key_file(key_file, master);
    SQLite::Transaction transaction(m_state.db());
    store_master(master, MasterSecret{std::nullopt, key_file}, {});
    transaction.commit();
    m_master = std::move(master);
}

void Keystore::init_with_passphrase(std::string passphrase, ScryptParams params) {
    if (initialised())
        throw Error::usage("the keystore already has a master key (" + mode() + ")",
                           "use 'gdprctl keys rotate' to replace it");
    if (passphrase.size() < 8) throw Error::usage("the passphrase is shorter than 8 characters");
    auto master = random_key();
    SQLite::Transaction transaction(m_state.db());
    store_master(master, MasterSecret{std::move(passphrase), std::nullopt}, params);
    transaction.commit();
    m_master = std::move(master);
}

void Keystore::unlock(MasterSecret secret) {
    if (!initialised())
        throw Error::usage("the keystore has no master key yet",
                           "run 'gdprctl keys init --key-file PATH' or 'gdprctl keys init --passphrase-file FILE'");
    SecretBytes master;
    if (mode() == "key-file") {
        auto path = secret.key_file ? *secret.key_file : *recorded_key_file();
        master = read_key_file(path);
        if (CRYPTO_memcmp(check_value(master).data(), meta("master.check")->data(), 64) != 0)
            throw Error::usage("key file " + path.string() + " does not hold this workspace's master key",
                               "give the key file created by 'gdprctl keys init' (or by the last rotation)");
    } else {
        if (!secret.passphrase)
            throw Error::usage("the master key is protected by a passphrase and none was given",
                               "use --passphrase-file FILE or set GDPRCTL_PASSPHRASE_FILE");
        auto passphrase = wipe_after_use(*secret.passphrase);
        auto params = nlohmann::json::parse(*meta("master.scrypt"));
        auto salt = util::from_hex(params.at("salt").get<std::string>()).value_or(Bytes{});
        auto wrap_key = scrypt(passphrase, salt, params.at("log2_n").get<unsigned>(), params.at("r").get<unsigned>(),
                               params.at("p").get<unsigned>(), k_key_size);
        OPENSSL_cleanse(passphrase.data(), passphrase.size());
        auto sealed = util::from_hex(*meta("master.wrapped")).value_or(Bytes{});
        auto opened = open_secret(wrap_key, k_master_aad, sealed);
        if (!opened) throw Error::usage("wrong passphrase for the master key", "check the passphrase file");
        master = std::move(*opened);
    }
    m_master = std::move(master);
}

void Keystore::require_unlocked() const {
    if (m_master.empty()) throw Error::runtime("internal: keystore used before unlock()");
}

Bytes Keystore::wrap(const SecretBytes& master, const std::string& id, const std::string& tenant,
                     const std::string& purpose, const SecretBytes& key) const {
    return seal_secret(master, "gdprctl/v1/key|" + id + "|" + tenant + "|" + purpose, key);
}

SecretBytes Keystore::unwrap(const std::string& id, const std::string& tenant, const std::string& purpose,
                             const Bytes& wrapped) const {
    require_unlocked();
    auto key = open_secret(m_master, "gdprctl/v1/key|" + id + "|" + tenant + "|" + purpose, wrapped);
    if (!key)
        throw Error::integrity("key " + id + " in the keystore does not unwrap: the state database was modified",
                               "restore .gdprctl/state.db from a copy");
    return std::move(*key);
}

std::pair<std::string, SecretBytes> Keystore::create_key(const std::string& tenant, const std::string& purpose,
                                                         const SecretBytes& key, const Bytes& public_key) {
    require_unlocked();
    auto id = new_key_id();
    auto wrapped = wrap(m_master, id, tenant, purpose, key);
    SQLite::Statement insert(m_state.db(),
                             "INSERT INTO keys (id, tenant, purpose, created, wrapped, public_key) "
                             "VALUES (?, ?, ?, ?, ?, ?)");
    insert.bind(1, id);
    insert.bind(2, tenant);
    insert.bind(3, purpose);
    insert.bind(4, util::format_iso8601(util::now()));
    insert.bind(5, wrapped.data(), static_cast<int>(wrapped.size()));
    if (public_key.empty())
        insert.bind(6);
    else
        insert.bind(6, public_key.data(), static_cast<int>(public_key.size()));
    insert.exec();
    return {id, key.copy()};
}

std::pair<std::string, SecretBytes> Keystore::data_key(const std::string& tenant) {
    require_unlocked();
    SQLite::Statement query(m_state.db(), "SELECT id, wrapped FROM keys WHERE tenant = ? AND purpose = 'data'");
    query.bind(1, tenant);
    if (query.executeStep()) {
        auto id = query.getColumn(0).getString();
        return {id, unwrap(id, tenant, "data", bytes_of(query.getColumn(1)))};
    }
    if (auto destroyed = destroyed_tenant(tenant))
        throw Error::usage("the keys of tenant " + tenant + " were destroyed on " + destroyed->destroyed +
                               "; gdprctl will not create a new key for it",
                           "the tenant was crypto-shredded: erase what remains of its data instead of backing it up");
    return create_key(tenant, "data", random_key(), {});
}

bool Keystore::key_exists(const std::string& id) {
    SQLite::Statement query(m_state.db(), "SELECT 1 FROM keys WHERE id = ?");
    query.bind(1, id);
    return query.executeStep();
}

std::optional<SecretBytes> Keystore::key_by_id(const std::string& id) {
    SQLite::Statement query(m_state.db(), "SELECT tenant, purpose, wrapped FROM keys WHERE id = ?");
    query.bind(1, id);
    if (query.executeStep())
        return unwrap(id, query.getColumn(0).getString(), query.getColumn(1).getString(), bytes_of(query.getColumn(2)));
    if (auto destroyed = destroyed_key(id))
        throw Error::integrity(
            "shredded: key " + id + " of tenant " + destroyed->tenant + " was destroyed on " + destroyed->destroyed,
            "the data sealed under it can no longer be read by anyone");
    return std::nullopt;
}

std::optional<KeyInfo> Keystore::destroyed_key(const std::string& id) {
    SQLite::Statement query(m_state.db(),
                            "SELECT id, tenant, purpose, created, destroyed, NULL FROM destroyed_keys WHERE id = ?");
    query.bind(1, id);
    if (!query.executeStep()) return std::nullopt;
    return key_info_from(query);
}

std::optional<KeyInfo> Keystore::destroyed_tenant(const std::string& tenant) {
    SQLite::Statement query(m_state.db(),
                            "SELECT id, tenant, purpose, created, destroyed, NULL FROM destroyed_keys "
                            "WHERE tenant = ? ORDER BY destroyed DESC LIMIT 1");
    query.bind(1, tenant);
    if (!query.executeStep()) return std::nullopt;
    return key_info_from(query);
}

Keyring Keystore::keyring() {
    Keyring ring;
    ring.key_for = [this](const std::string& id) { return key_by_id(id); };
    ring.stored_identities = [this] { return recipient_identities(); };
    return ring;
}

std::vector<SecretBytes> Keystore::recipient_identities() {
    std::vector<SecretBytes> identities;
    SQLite::Statement query(m_state.db(), "SELECT id, tenant, wrapped FROM keys WHERE purpose = 'recipient'");
    while (query.executeStep())
        identities.push_back(unwrap(query.getColumn(0).getString(), query.getColumn(1).getString(), "recipient",
                                    bytes_of(query.getColumn(2))));
    return identities;
}

std::vector<KeyInfo> Keystore::list() {
    std::vector<KeyInfo> keys;
    SQLite::Statement query(m_state.db(),
                            "SELECT id, tenant, purpose, created, '', public_key FROM keys "
                            "UNION ALL SELECT id, tenant, purpose, created, destroyed, NULL FROM destroyed_keys "
                            "ORDER BY 2, 3, 4");
    while (query.executeStep()) keys.push_back(key_info_from(query));
    return keys;
}

std::string Keystore::recipient_public_key(const std::string& tenant) {
    SQLite::Statement query(m_state.db(), "SELECT public_key FROM keys WHERE tenant = ? AND purpose = 'recipient'");
    query.bind(1, tenant);
    if (query.executeStep()) return format_recipient(bytes_of(query.getColumn(0)));
    if (auto destroyed = destroyed_tenant(tenant))
        throw Error::usage("the keys of tenant " + tenant + " were destroyed on " + destroyed->destroyed);
    auto pair = x25519_generate();
    create_key(tenant, "recipient", pair.private_key, pair.public_key);
    return format_recipient(pair.public_key);
}

std::optional<SecretBytes> Keystore::recipient_private_key(const std::string& tenant) {
    SQLite::Statement query(m_state.db(), "SELECT id, wrapped FROM keys WHERE tenant = ? AND purpose = 'recipient'");
    query.bind(1, tenant);
    if (!query.executeStep()) return std::nullopt;
    return unwrap(query.getColumn(0).getString(), tenant, "recipient", bytes_of(query.getColumn(1)));
}

void Keystore::rotate(MasterSecret new_secret, ScryptParams params) {
    require_unlocked();
    auto master = random_key();
    std::optional<std::filesystem::path> staged;
    if (new_secret.key_file) {
        // The new key file is staged beside its final name and moved there after the commit;
        // a crash in between leaves both keys on disk, never none.
        staged = *new_secret.key_file;
        *staged += ".new";
        write_key_file(*staged, master);
    }
    auto& db = m_state.db();
    try {
        SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement query(db, "SELECT id, tenant, purpose, wrapped FROM keys");
        std::vector<std::pair<std::string, Bytes>> rewrapped;
        while (query.executeStep()) {
            auto id = query.getColumn(0).getString();
            auto tenant = query.getColumn(1).getString();
            auto purpose = query.getColumn(2).getString();
            auto key = unwrap(id, tenant, purpose, bytes_of(query.getColumn(3)));
            rewrapped.emplace_back(id, wrap(master, id, tenant, purpose, key));
        }
        query.reset();
        for (const auto& [id, wrapped] : rewrapped) {
            SQLite::Statement update(db, "UPDATE keys SET wrapped = ? WHERE id = ?");
            update.bind(1, wrapped.data(), static_cast<int>(wrapped.size()));
            update.bind(2, id);
            update.exec();
        }
        store_master(master, std::move(new_secret), params);
        transaction.commit();
        journal::Journal(m_state).append("keys rotate", nlohmann::json::object(), nlohmann::json::array(),
                                         {{"keys_rewrapped", rewrapped.size()}}, "ok");
    } catch (...) {
        if (staged) std::filesystem::remove(*staged);
        throw;
    }
    if (staged) std::filesystem::rename(*staged, *recorded_key_file());
    m_master = std::move(master);
}

DestroyReport Keystore::destroy_tenant(const std::string& tenant, bool dry_run) {
    DestroyReport report{tenant, {}, dry_run};
    auto& db = m_state.db();
    {
        SQLite::Statement query(db,
                                "SELECT id, tenant, purpose, created, '', public_key FROM keys WHERE tenant = ? "
                                "ORDER BY purpose");
        query.bind(1, tenant);
        while (query.executeStep()) report.keys.push_back(key_info_from(query));
    }
    if (report.keys.empty()) {
        if (auto destroyed = destroyed_tenant(tenant))
            throw Error::usage("the keys of tenant " + tenant + " were already destroyed on " + destroyed->destroyed);
        throw Error::usage("the keystore holds no key for tenant \"" + tenant + "\"",
                           "see 'gdprctl keys list' for the tenants that have keys");
    }
    if (dry_run) return report;
    auto now = util::format_iso8601(util::now());
    // secure_delete makes SQLite zero the freed cells; the explicit overwrite first also clears
    // the row's bytes in the pages the WAL copies.
    db.exec("PRAGMA secure_delete = ON");
    {
        SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement overwrite(db,
                                    "UPDATE keys SET wrapped = zeroblob(length(wrapped)), public_key = NULL "
                                    "WHERE tenant = ?");
        overwrite.bind(1, tenant);
        overwrite.exec();
        SQLite::Statement record(db,
                                 "INSERT INTO destroyed_keys (id, tenant, purpose, created, destroyed) "
                                 "SELECT id, tenant, purpose, created, ? FROM keys WHERE tenant = ?");
        record.bind(1, now);
        record.bind(2, tenant);
        record.exec();
        SQLite::Statement remove(db, "DELETE FROM keys WHERE tenant = ?");
        remove.bind(1, tenant);
        remove.exec();
        transaction.commit();
    }
    nlohmann::json ids = nlohmann::json::array();
    for (auto& key : report.keys) {
        key.destroyed = now;
        ids.push_back(key.id);
    }
    journal::Journal(m_state).append("keys destroy", {{"tenant", tenant}}, nlohmann::json::array(),
                                     {{"keys_destroyed", ids}}, "ok");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.exec("VACUUM");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return report;
}

std::string read_passphrase_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error::usage("cannot read passphrase file " + path.string(), "check the path and its permissions");
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw Error::usage("passphrase file " + path.string() + " is empty");
    return line;
}

std::string format_recipient(const Bytes& public_key) {
    return k_recipient_prefix + util::to_hex(public_key.data(), public_key.size());
}

Bytes parse_recipient(const std::string& text) {
    std::string_view prefix = k_recipient_prefix;
    if (text.rfind(prefix, 0) == 0) {
        auto bytes = util::from_hex(std::string_view(text).substr(prefix.size()));
        if (bytes && bytes->size() == 32) return *bytes;
    }
    throw Error::usage("not a recipient key: \"" + text.substr(0, 40) + "\"",
                       "a recipient looks like gdprctl-x25519:<64 hex digits> ('gdprctl keys keygen' prints one)");
}

void write_identity_file(const std::filesystem::path& path, const X25519KeyPair& pair) {
    util::refuse_existing(path);
    auto text = "# gdprctl X25519 identity\n# public: " + format_recipient(pair.public_key) + "\n" +
                util::to_hex(pair.private_key.data(), pair.private_key.size()) + "\n";
    util::write_file_atomically(path, text, 0600, util::Replace::never);
    OPENSSL_cleanse(text.data(), text.size());
}

SecretBytes read_identity_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error::usage("cannot read identity file " + path.string());
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        auto bytes = util::from_hex(line);
        OPENSSL_cleanse(line.data(), line.size());
        if (!bytes || bytes->size() != 32) break;
        SecretBytes key(bytes->data(), bytes->size());
        OPENSSL_cleanse(bytes->data(), bytes->size());
        return key;
    }
    throw Error::usage(path.string() + " is not a gdprctl X25519 identity file",
                       "create one with 'gdprctl keys keygen --out FILE'");
}

namespace {

SecretBytes platform_sealing_key(Keystore& keystore, std::string_view purpose) {
    auto platform = keystore.data_key("");
    return hkdf_sha256(platform.second, "", purpose, k_key_size);
}

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

}  // namespace

Bytes seal_with_platform_key(Keystore& keystore, std::string_view purpose, std::string_view id,
                             std::string_view plain) {
    Bytes sealed(k_nonce_size + plain.size() + k_tag_size);
    random_bytes(sealed.data(), k_nonce_size);
    Aead aead(Suite::aes256gcm, platform_sealing_key(keystore, purpose));
    aead.seal(sealed.data(), bytes_of(id), id.size(), bytes_of(plain), plain.size(), sealed.data() + k_nonce_size);
    return sealed;
}

std::optional<SecretBytes> open_with_platform_key(Keystore& keystore, std::string_view purpose, std::string_view id,
                                                  const Bytes& sealed) {
    if (sealed.size() < k_nonce_size + k_tag_size) return std::nullopt;
    SecretBytes plain(sealed.size() - k_nonce_size - k_tag_size);
    Aead aead(Suite::aes256gcm, platform_sealing_key(keystore, purpose));
    if (!aead.open(sealed.data(), bytes_of(id), id.size(), sealed.data() + k_nonce_size, sealed.size() - k_nonce_size,
                   plain.data()))
        return std::nullopt;
    return plain;
}

}  // namespace gdprctl::crypto
