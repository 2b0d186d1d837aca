#include "core/journal/journal.hpp"

#include <openssl/evp.h>

#include "core/error.hpp"
#include "core/util/time.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::journal {

namespace {

const std::string k_genesis(64, '0');

std::string sha256_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw Error::runtime("SHA-256 failed in OpenSSL");
    return util::to_hex(digest, length);
}

Entry read_entry(SQLite::Statement& query) {
    Entry entry;
    entry.seq = query.getColumn(0).getInt64();
    entry.time = query.getColumn(1).getString();
    entry.command = query.getColumn(2).getString();
    entry.selector = nlohmann::json::parse(query.getColumn(3).getString(), nullptr, false);
    entry.sources = nlohmann::json::parse(query.getColumn(4).getString(), nullptr, false);
    entry.counts = nlohmann::json::parse(query.getColumn(5).getString(), nullptr, false);
    entry.outcome = query.getColumn(6).getString();
    entry.prev_hash = query.getColumn(7).getString();
    entry.hash = query.getColumn(8).getString();
    return entry;
}

}  // namespace

Journal::Journal(state::StateDb& state) : m_state(state) {}

// Canonical form: a JSON array in fixed order; nlohmann sorts object keys, so equal
// content always hashes the same.
std::string Journal::hash_of(const Entry& entry) {
    nlohmann::json canonical = {entry.seq,     entry.time,   entry.command, entry.selector,
                                entry.sources, entry.counts, entry.outcome, entry.prev_hash};
    return sha256_hex(canonical.dump());
}

Entry Journal::append(const std::string& command, const nlohmann::json& selector, const nlohmann::json& sources,
                      const nlohmann::json& counts, const std::string& outcome) {
    auto& db = m_state.db();
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    Entry entry;
    entry.prev_hash = k_genesis;
    SQLite::Statement last(db, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1");
    if (last.executeStep()) {
        entry.seq = last.getColumn(0).getInt64() + 1;
        entry.prev_hash = last.getColumn(1).getString();
    } else {
        entry.seq = 1;
    }
    entry.time = util::format_iso8601(util::now());
    entry.command = command;
    entry.selector = selector;
    entry.sources = sources;
    entry.counts = counts;
    entry.outcome = outcome;
    entry.hash = hash_of(entry);
    SQLite::Statement insert(db, "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, static_cast<std::int64_t>(entry.seq));
    insert.bind(2, entry.time);
    insert.bind(3, entry.command);
    insert.bind(4, entry.selector.dump());
    insert.bind(5, entry.sources.dump());
    insert.bind(6, entry.counts.dump());
    insert.bind(7, entry.outcome);
    insert.bind(8, entry.prev_hash);
    insert.bind(9, entry.hash);
    insert.exec();
    SQLite::Statement head(db, "INSERT OR REPLACE INTO meta VALUES ('journal_head', ?)");
    head.bind(1, std::to_string(entry.seq) + ":" + entry.hash);
    head.exec();
    transaction.commit();
    return entry;
}

std::vector<Entry> Journal::entries(std::optional<std::int64_t> last_n) {
    std::string sql = "SELECT * FROM journal ORDER BY seq";
    if (last_n)
        sql = "SELECT * FROM (SELECT * FROM journal ORDER BY seq DESC LIMIT " + std::to_string(*last_n) +
              ") ORDER BY seq";
    SQLite::Statement query(m_state.db(), sql);
    std::vector<Entry> out;
    while (query.executeStep()) out.push_back(read_entry(query));
    return out;
}

VerifyResult Journal::verify() {
    VerifyResult result;
    std::string expected_prev = k_genesis;
    std::int64_t expected_seq = 1;
    SQLite::Statement query(m_state.db(), "SELECT * FROM journal ORDER BY rowid");
    auto broken = [&](std::int64_t seq, std::string problem) {
        result.intact = false;
        result.first_broken = seq;
        result.problem = std::move(problem);
    };
    while (query.executeStep()) {
        auto entry = read_entry(query);
        ++result.entries;
        if (entry.seq != expected_seq) {
            broken(entry.seq, "entry " + std::to_string(expected_seq) + " is missing or out of order");
            return result;
        }
        if (entry.prev_hash != expected_prev) {
            broken(entry.seq, "does not chain to the entry before it");
            return result;
        }
        if (hash_of(entry) != entry.hash) {
            broken(entry.seq, "its content was changed after it was written");
            return result;
        }
        expected_prev = entry.hash;
        ++expected_seq;
    }
    SQLite::Statement head(m_state.db(), "SELECT value FROM meta WHERE key = 'journal_head'");
    std::string recorded = head.executeStep() ? head.getColumn(0).getString() : "";
    std::string actual = result.entries ? std::to_string(expected_seq - 1) + ":" + expected_prev : "";
    if (recorded != actual) {
        broken(expected_seq, "entries after " + std::to_string(expected_seq - 1) +
                                 " were removed (the recorded head is " +
                                 (recorded.empty() ? "missing" : recorded.substr(0, recorded.find(':'))) + ")");
    }
    return result;
}

}  // namespace gdprctl::journal
