#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/workspace.hpp"
#include "core/ropa/register.hpp"
#include "core/scan/scan.hpp"
#include "core/state/state_db.hpp"
#include "core/util/time.hpp"

// Personal-data breaches (man gdprctl-breach(1)): the register Art. 33(5) asks for, the 72-hour
// clock of Art. 33(1) from the moment the platform became aware, and the notifications to the
// supervisory authority, to each controller (tenant) whose data it processes (Art. 33(2)) and to
// the people concerned (Art. 34). How many people and records are affected is counted from the
// stores, never typed in.
namespace gdprctl::breaches {

constexpr std::int64_t k_authority_deadline = 72 * 3600;

// unlikely: unlikely to result in a risk (no notification to the authority, Art. 33(1));
// risk: notify the authority; high: also tell the people concerned (Art. 34(1)).
const std::vector<std::string>& risk_levels();
// authority, controller, subjects
const std::vector<std::string>& recipients();

// What a breach reaches in one tenant ("" for the platform's own data), counted in the stores.
struct Affected {
    std::string tenant;
    std::map<std::string, std::uint64_t> records_per_category;
    // Distinct identifiers per kind (email, ip, ...): a person may have several of one kind, so
    // the largest of these is the approximate number of people Art. 33(3)(a) asks for.
    std::map<std::string, std::uint64_t> identifiers_per_kind;

    std::uint64_t records() const;
    std::uint64_t people() const;
};

struct Assessment {
    std::string time;
    std::vector<std::string> sources;     // the sources the breach reached
    std::vector<std::string> categories;  // the categories it reached; empty: every category
    std::vector<Affected> affected;       // one per tenant named (or the platform's own data)
    std::string consequences;
    std::string measures;
    std::string risk;

    std::uint64_t records() const;
    std::uint64_t people() const;
    std::vector<std::string> categories_found() const;
};

struct Notification {
    std::string to;      // authority, controller, subjects
    std::string tenant;  // the controller told, for "controller"
    std::string sent;
    std::string late_reason;  // Art. 33(1): why the authority was told after 72 hours
    std::string file;         // the document written
};

struct Breach {
    std::string id;
    std::string opened;
    util::UnixTime aware_at = 0;
    std::string summary;
    std::vector<std::string> tenants;  // controllers whose data it reached; empty: the platform's own
    std::vector<Assessment> assessments;
    std::vector<Notification> notifications;

    util::UnixTime deadline() const { return aware_at + k_authority_deadline; }
    const Assessment* assessment() const { return assessments.empty() ? nullptr : &assessments.back(); }
    const Notification* notified(const std::string& to, const std::string& tenant = "") const;
    // Until an assessment says the risk is unlikely, the authority must be told.
    bool authority_due() const;
    bool subjects_due() const;
    std::vector<std::string> controllers_not_told() const;
    // open (a notification is still due), notified, recorded (unlikely risk, no notification due)
    std::string status() const;

    nlohmann::json to_json(util::UnixTime now) const;
    static Breach from_json(const nlohmann::json& json);
};

struct NewBreach {
    util::UnixTime aware_at = 0;
    std::string summary;
    std::vector<std::string> tenants;
    util::UnixTime now = 0;
};

struct AssessmentAsked {
    std::vector<std::string> sources;  // empty: every source
    std::vector<std::string> categories;
    std::string consequences;
    std::string measures;
    std::string risk;
    util::UnixTime now = 0;
};

class BreachStore {
public:
    explicit BreachStore(state::StateDb& state);

    Breach open(const NewBreach& breach);
    Breach load(const std::string& id);
    std::vector<Breach> all();
    void add_assessment(Breach& breach, Assessment assessment);
    void add_notification(Breach& breach, Notification notification);

private:
    void save(const Breach& breach, const std::string& command, const nlohmann::json& counts,
              const std::string& outcome);

    state::StateDb& m_state;
};

// Counts what the breach reaches: records per category from the inventory of the named sources
// (scan), distinct identifiers per kind from their records (collect), per tenant named.
// Read-only towards the stores. Error::usage for a source or category the workspace lacks.
Assessment assess(const config::Workspace& workspace, const scan::SourceOpener& open_sources, const Breach& breach,
                  const AssessmentAsked& asked);

// Refuses (Error::usage) a notification that cannot be sent as asked: no assessment yet, a
// tenant the breach did not reach, a late one without its reasons (Art. 33(1)).
void check_notification(const Breach& breach, const Notification& notification, util::UnixTime sent);

// The notification's contents (Art. 33(3) for the authority and controllers, Art. 34(2) for
// the people), filled from the breach, its latest assessment and the register.
nlohmann::json notification_document(const Breach& breach, const Notification& notification, const ropa::Register& reg,
                                     const std::string& platform);
std::string notification_markdown(const nlohmann::json& document);
std::string notification_html(const nlohmann::json& document);

}  // namespace gdprctl::breaches
