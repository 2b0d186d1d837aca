#include "core/erase/ledger.hpp"

#include <algorithm>

#include "core/pii/detect.hpp"
#include "core/util/hex.hpp"
#include "core/util/time.hpp"

namespace gdprctl::erase {

namespace {

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool email_char(unsigned char c) {
    return std::isalnum(c) || std::string_view("._%+-@").find(c) != std::string_view::npos;
}

}  // namespace

ErasureLedger::ErasureLedger(state::StateDb& state, crypto::Keystore& keystore) : m_state(state) {
    auto platform = keystore.data_key("");
    m_key = crypto::hkdf_sha256(platform.second, "", "gdprctl/v1/erasure-ledger", crypto::k_key_size);
    SQLite::Statement query(m_state.db(), "SELECT tenant, subject_hash FROM erasure_ledger");
    while (query.executeStep()) {
        if (!query.getColumn(0).isNull()) m_tenants.insert(query.getColumn(0).getString());
        if (!query.getColumn(1).isNull()) m_hashes.insert(query.getColumn(1).getString());
    }
}

std::string ErasureLedger::hash_of(const std::string& kind, std::string_view value) const {
    std::string canonical(value);
    if (kind == "email") canonical = lower_ascii(value);
    if (kind == "ip") canonical = pii::canonical_ip(value).value_or(canonical);
    auto text = kind + ":" + canonical;
    auto mac = crypto::hmac_sha256(m_key, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return util::to_hex(mac.data(), mac.size());
}

void ErasureLedger::record_subject(const std::string& kind, const std::string& value) {
    auto hash = hash_of(kind, value);
    if (!m_hashes.insert(hash).second) return;
    SQLite::Statement insert(m_state.db(), "INSERT INTO erasure_ledger (time, subject_hash) VALUES (?, ?)");
    insert.bind(1, util::format_iso8601(util::now()));
    insert.bind(2, hash);
    insert.exec();
}

void ErasureLedger::record_tenant(const std::string& tenant) {
    if (!m_tenants.insert(tenant).second) return;
    SQLite::Statement insert(m_state.db(), "INSERT INTO erasure_ledger (time, tenant) VALUES (?, ?)");
    insert.bind(1, util::format_iso8601(util::now()));
    insert.bind(2, tenant);
    insert.exec();
}

bool ErasureLedger::subject_erased(const std::string& kind, std::string_view value) const {
    return !m_hashes.empty() && m_hashes.count(hash_of(kind, value)) > 0;
}

bool ErasureLedger::text_mentions_erased(std::string_view text) const {
    if (m_hashes.empty()) return false;
    bool found = false;
    pii::for_each_ip(text, [&](const std::string& ip) { found = found || subject_erased("ip", ip); });
    if (found) return true;
    for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
        std::size_t begin = at, end = at + 1;
        while (begin > 0 && email_char(static_cast<unsigned char>(text[begin - 1])) && text[begin - 1] != '@') --begin;
        while (end < text.size() && email_char(static_cast<unsigned char>(text[end])) && text[end] != '@') ++end;
        if (subject_erased("email", text.substr(begin, end - begin))) return true;
    }
    return false;
}

}  // namespace gdprctl::erase
