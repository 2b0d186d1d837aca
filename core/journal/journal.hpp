#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/state/state_db.hpp"

namespace gdprctl::journal {

struct Entry {
    std::int64_t seq = 0;
    std::string time;         // ISO-8601 UTC
    std::string command;      // "scan", "erase", ...
    nlohmann::json selector;  // never holds identifiers in clear (counts or salted hashes only)
    nlohmann::json sources;   // names of the sources touched
    nlohmann::json counts;    // what was found or done, per source
    std::string outcome;      // "ok", "findings", "error: ..."
    std::string prev_hash;
    std::string hash;
};

struct VerifyResult {
    bool intact = true;
    std::uint64_t entries = 0;
    std::optional<std::int64_t> first_broken;  // seq of the first entry that does not verify
    std::string problem;
};

// The append-only, hash-chained log of every action gdprctl took. Each entry's hash is
// SHA-256 over its canonical JSON (fields above, prev_hash included), so editing, deleting or
// reordering any entry breaks the chain from there on; the head (last seq and hash) is kept
// in the meta table to catch a removed tail. Someone able to rewrite the whole file can
// recompute the chain: the chain proves consistency, a signature over the head proves origin.
class Journal {
public:
    explicit Journal(state::StateDb& state);

    // Appends an entry atomically (one transaction with the head update); returns it.
    Entry append(const std::string& command, const nlohmann::json& selector, const nlohmann::json& sources,
                 const nlohmann::json& counts, const std::string& outcome);
    std::vector<Entry> entries(std::optional<std::int64_t> last_n = std::nullopt);
    VerifyResult verify();

    static std::string hash_of(const Entry& entry);

private:
    state::StateDb& m_state;
};

}  // namespace gdprctl::journal
