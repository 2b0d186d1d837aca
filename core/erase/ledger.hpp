#pragma once

#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/crypto/keystore.hpp"
#include "core/state/state_db.hpp"

namespace gdprctl::erase {

// The erasure ledger: who and which tenants were erased, so that a restore from a backup made
// before the erasure leaves them out again. People are kept only as HMAC-SHA256 of their
// canonical identifier under a key derived from the platform key: the ledger itself holds no
// e-mail or IP address, and an IPv4 hash cannot be reversed by trying all 2^32 addresses
// without the key.
class ErasureLedger {
public:
    // keystore must be unlocked (the platform key is created on first use).
    ErasureLedger(state::StateDb& state, crypto::Keystore& keystore);

    void record_subject(const std::string& kind, const std::string& value);
    void record_tenant(const std::string& tenant);

    bool subject_erased(const std::string& kind, std::string_view value) const;
    bool tenant_erased(const std::string& tenant) const { return m_tenants.count(tenant) > 0; }
    // True when text holds an IP address or e-mail address of an erased person.
    bool text_mentions_erased(std::string_view text) const;
    std::size_t subjects() const { return m_hashes.size(); }

private:
    std::string hash_of(const std::string& kind, std::string_view value) const;

    state::StateDb& m_state;
    crypto::SecretBytes m_key;
    std::unordered_set<std::string> m_hashes;
    std::set<std::string> m_tenants;
};

}  // namespace gdprctl::erase
