#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "core/crypto/keystore.hpp"
#include "core/erase/erase.hpp"
#include "core/ropa/register.hpp"
#include "core/state/state_db.hpp"
#include "core/util/time.hpp"

// Data subject requests (man gdprctl-request(1)): a person's request, from receipt to answer,
// with the one-month clock of Art. 12(3). The person's identifiers are sealed under a key derived
// from the platform key, as erasure requests keep theirs; everything else is readable in the
// state database and the journal, which never hold an identifier.
namespace gdprctl::requests {

// Art. 15 access, 20 portability, 17 erasure, 16 rectification, 21 objection, 18 restriction.
const std::vector<std::string>& kinds();
// The gdprctl command that carries a kind out ("export", "erase"), or "" when gdprctl does not.
std::string command_for(const std::string& kind);

// Art. 12(3) counts in months, and Regulation 1182/71 Art. 3(2)(c) says where such a period
// ends: at the end of the day (UTC here) with the same date, months later; at the end of that
// month when it has no such date (31 January + 1 month: 28 or 29 February).
util::UnixTime end_of_period(util::UnixTime from, int months);

struct Verification {
    std::string time;
    std::string method;
    std::string by;
};

struct Extension {
    std::string time;
    int months = 0;
    std::string reason;
};

// What gdprctl did for the request: an export (the archive) or an erasure (its request id).
struct Action {
    std::string time;
    std::string command;     // export, erase
    std::string reference;   // the archive's path, or the erasure request id
    nlohmann::json details;  // records, bytes, sha256; certified
    std::string unverified;  // the reason it ran before the identity was verified; "" when it was
};

struct Closing {
    std::string time;
    bool refused = false;
    std::string text;        // the refusal's reason (Art. 12(5), 17(3)), or what was answered
    std::string recipients;  // Art. 19: "told", or why they were not
};

struct Request {
    std::string id;
    std::string kind;
    std::optional<std::string> tenant;
    std::string channel;
    util::UnixTime received = 0;
    std::vector<std::string> subject_kinds;  // "email", "ip": never the values
    std::optional<Verification> verification;
    std::vector<Extension> extensions;
    std::vector<Action> actions;
    std::vector<std::string> recipients_to_tell;  // Art. 19, after an erasure
    std::optional<Closing> closing;

    int extended_months() const;
    util::UnixTime due() const { return end_of_period(received, 1 + extended_months()); }
    bool open() const { return !closing.has_value(); }
    bool overdue(util::UnixTime now) const { return open() && now > due(); }
    // received, verified, carried out, answered, refused
    std::string status() const;
    // Closed after its due date.
    bool answered_late() const;
    // Seconds from receipt to the answer; nullopt while open.
    std::optional<std::int64_t> time_to_answer() const;

    nlohmann::json to_json(util::UnixTime now) const;
    static Request from_json(const nlohmann::json& json);
};

struct NewRequest {
    std::string kind;
    std::vector<connectors::Identifier> subjects;
    std::optional<std::string> tenant;
    std::string channel;
    util::UnixTime received = 0;
    util::UnixTime now = 0;
};

// The requests in the state database. Opening a request and reading its identifiers need the
// keystore unlocked; everything else reads and writes only what the journal may say.
class RequestStore {
public:
    RequestStore(state::StateDb& state, crypto::Keystore* keystore);

    Request open(const NewRequest& request);
    // Error::usage naming the ids there are, for an unknown id.
    Request load(const std::string& id);
    std::vector<Request> all();
    std::vector<connectors::Identifier> subjects_of(const Request& request);

    void verify(Request& request, Verification verification);
    void extend(Request& request, Extension extension, util::UnixTime now);
    // Records an action done for the request (export, erase), with the recipients Art. 19 says
    // must be told of an erasure.
    void record_action(Request& request, Action action, const std::vector<std::string>& recipients);
    // status_of_erasure: the erasure request's status now ("verified" once certified).
    void close(Request& request, Closing closing, util::UnixTime now, const std::string& status_of_erasure);

private:
    void save(const Request& request, const std::string& command, const std::string& outcome);

    state::StateDb& m_state;
    crypto::Keystore* m_keystore;
};

// Refuses (Error::usage) to run command for a request that is closed, of another kind, or whose
// identity is not verified (unless unverified_reason says why it must run now).
void check_runnable(const Request& request, const std::string& command, const std::string& unverified_reason);

// The categories of the datasets (the data map's) an erasure removed or stripped records of.
std::vector<std::string> erased_categories(const erase::EraseReport& report,
                                           const std::vector<config::Dataset>& datasets);

// Art. 19: who must be told of an erasure of these categories. The register's recipients of
// every activity processing one of them; internal teams are the controller itself and are left out.
std::vector<std::string> recipients_of(const ropa::Register& reg, const std::vector<std::string>& categories);

// The figures the audit report shows: received, answered, refused, open, overdue, and the
// median and worst time to answer, in days.
nlohmann::json statistics(const std::vector<Request>& requests, util::UnixTime now);

}  // namespace gdprctl::requests
