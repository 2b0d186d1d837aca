#include "core/erase/erase.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/backup/backup.hpp"
#include "core/crypto/primitives.hpp"
#include "core/erase/certificate.hpp"
#include "core/erase/ledger.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/pii/detect.hpp"
#include "core/scan/linked.hpp"
#include "core/state/state_db.hpp"
#include "core/state/steps.hpp"
#include "core/util/fs.hpp"
#include "core/util/hex.hpp"
#include "core/util/time.hpp"
#include "core/version.hpp"

namespace gdprctl::erase {

namespace {

constexpr const char* k_certificate_format = "gdprctl-erasure-certificate/1";

// Who an erasure is about, once the data map's links were followed.
struct Resolution {
    connectors::Selector asked;     // as the operator gave it
    connectors::Selector selector;  // with the linked identifiers
    std::size_t linked = 0;
    std::vector<std::string> shared;   // addresses left out: other people used them too
    std::vector<std::string> markers;  // a tenant: its id, names and stream keys
    std::string salt;                  // hex; for the certificate's salted identifier hashes

    nlohmann::json to_json() const {
        return {{"asked", asked.to_plan_json()},
                {"selector", selector.to_plan_json()},
                {"linked", linked},
                {"shared", shared},
                {"markers", markers},
                {"salt", salt}};
    }
    static Resolution from_json(const nlohmann::json& json) {
        Resolution resolution;
        resolution.asked = connectors::Selector::from_plan_json(json.at("asked"));
        resolution.selector = connectors::Selector::from_plan_json(json.at("selector"));
        resolution.linked = json.at("linked").get<std::size_t>();
        resolution.shared = json.at("shared").get<std::vector<std::string>>();
        resolution.markers = json.at("markers").get<std::vector<std::string>>();
        resolution.salt = json.at("salt").get<std::string>();
        return resolution;
    }
};

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> random(bytes);
    crypto::random_bytes(random.data(), random.size());
    return util::to_hex(random.data(), random.size());
}

std::string new_request_id(util::UnixTime now) {
    auto stamp = util::format_iso8601(now);  // 2026-11-24T09:10:11Z
    std::string compact;
    for (char c : stamp.substr(0, 19))
        if (c != '-' && c != ':') compact += c == 'T' ? '-' : c;
    return "er-" + compact + "-" + random_hex(3);
}

void check_selector(const connectors::Selector& selector) {
    if (!selector.tenant && selector.subjects.empty())
        throw Error::usage("an erasure is about a tenant or a person",
                           "give --tenant T, or --subject KIND:VALUE (repeatable; --tenant T limits it to one tenant)");
    if (!selector.categories.empty() || !selector.datasets.empty() || selector.older_than)
        throw Error::usage("an erasure covers everything of its tenant or person",
                           "use 'gdprctl retention' for rules by category or age");
}

Resolution resolve(const connectors::Selector& selector, scan::Connectors& connectors) {
    Resolution resolution;
    resolution.asked = selector;
    resolution.salt = random_hex(16);
    if (selector.subjects.empty()) {
        resolution.selector = selector;
        std::set<std::string> markers{*selector.tenant};
        for (auto& connector : connectors)
            for (auto& marker : connector->tenant_markers(*selector.tenant)) markers.insert(std::move(marker));
        resolution.markers.assign(markers.begin(), markers.end());
        return resolution;
    }
    auto resolved = scan::resolve_subjects(selector, connectors);
    resolution.selector = resolved.selector;
    resolution.linked = resolved.linked;
    for (const auto& address : resolved.shared) resolution.shared.push_back(address.value);
    return resolution;
}

// What the rescan looks for as text: the person's identifiers (connectors::text_patterns), or
// the tenant's markers.
std::vector<std::string> rescan_patterns(const Resolution& resolution) {
    std::set<std::string> patterns(resolution.markers.begin(), resolution.markers.end());
    for (auto& pattern : connectors::text_patterns(resolution.selector.subjects)) patterns.insert(std::move(pattern));
    return {patterns.begin(), patterns.end()};
}

// The selector as the certificate shows it: identifiers only as keyed hashes
// (IdentifierHashKey), salted per certificate so that two certificates of one person do not
// share a hash.
nlohmann::json erased_json(const Resolution& resolution, const std::filesystem::path& state_dir) {
    nlohmann::json erased = {{"kind", resolution.asked.subjects.empty() ? "tenant" : "subject"},
                             {"tenant", resolution.asked.tenant ? nlohmann::json(*resolution.asked.tenant) : nullptr}};
    if (resolution.asked.subjects.empty()) return erased;
    auto key = IdentifierHashKey::load_or_create(state_dir);
    nlohmann::json identifiers = nlohmann::json::array();
    for (const auto& id : resolution.selector.subjects)
        identifiers.push_back({{"kind", id.kind}, {"hmac_sha256", key.hash(resolution.salt, id.text())}});
    erased["identifiers"] = identifiers;
    erased["salt"] = resolution.salt;
    erased["hash"] = "HMAC-SHA256(identifier key, salt || kind \":\" value)";
    erased["hash_key"] = key.id();
    erased["linked_identifiers"] = resolution.linked;
    erased["shared_addresses_left_out"] = resolution.shared.size();
    return erased;
}

std::string method_of(const std::string& kind) {
    if (kind == "sqlite") return "clear: rows deleted or anonymised with secure_delete, VACUUM, WAL truncated";
    if (kind == "postgres")
        return "clear: rows deleted or anonymised in transactions (the server keeps old row versions until VACUUM "
               "reclaims them and in its write-ahead log until recycled)";
    if (kind == "logfile") return "clear: lines removed by rewriting each file (new inode), gzip kept";
    if (kind == "files") return "clear: files unlinked";
    if (kind == "s3")
        return "clear: objects deleted with every version and delete marker; log objects written anew without the "
               "lines (gzip kept), the versions that held them deleted";
    return "clear";
}

connectors::Connector& connector_named(scan::Connectors& connectors, const std::string& name) {
    for (auto& connector : connectors)
        if (connector->source().name == name) return *connector;
    throw Error::config("the erasure's plan names source \"" + name + "\", which the config no longer has",
                        "restore the source in the config and run the erasure again");
}

std::vector<connectors::Plan> plan_everywhere(scan::Connectors& connectors, const connectors::Selector& selector) {
    connectors::Action erase;
    erase.kind = connectors::Action::Kind::erase;
    std::vector<connectors::Plan> plans;
    for (auto& connector : connectors) plans.push_back(connector->plan(selector, erase));
    return plans;
}

std::vector<SourceErasure> planned_sources(scan::Connectors& connectors, const std::vector<connectors::Plan>& plans) {
    std::vector<SourceErasure> sources;
    for (const auto& plan : plans) {
        const auto& kind = connector_named(connectors, plan.source).source().kind;
        SourceErasure source{plan.source, kind, method_of(kind), plan.items, 0, 0, {}};
        for (const auto& item : plan.items) {
            if (!item.erases_records()) continue;
            source.records += item.records;
            source.bytes += item.bytes;
        }
        sources.push_back(std::move(source));
    }
    return sources;
}

// A request's identifiers, kept for a later rescan under a key derived from the platform key:
// it goes with the keystore and never sits beside the ciphertext.
constexpr const char* k_sealing_purpose = "gdprctl/v1/erasure-requests";

std::vector<unsigned char> seal_identifiers(crypto::Keystore& keystore, const std::string& request,
                                            const Resolution& resolution) {
    nlohmann::json kept = {{"subjects", resolution.selector.to_plan_json().value("subjects", nlohmann::json::array())},
                           {"markers", resolution.markers}};
    auto plain = kept.dump();
    auto sealed = crypto::seal_with_platform_key(keystore, k_sealing_purpose, request, plain);
    OPENSSL_cleanse(plain.data(), plain.size());
    return sealed;
}

std::optional<nlohmann::json> open_identifiers(crypto::Keystore& keystore, const std::string& request,
                                               const std::vector<unsigned char>& sealed) {
    auto plain = crypto::open_with_platform_key(keystore, k_sealing_purpose, request, sealed);
    if (!plain) return std::nullopt;
    auto json = nlohmann::json::parse(plain->data(), plain->data() + plain->size(), nullptr, false);
    if (json.is_discarded()) return std::nullopt;
    return json;
}

bool keystore_usable(const crypto::Keystore* keystore) { return keystore && keystore->unlocked(); }

// An erasure request as the state database keeps it while it runs.
struct StoredRequest {
    std::string id;
    Resolution resolution;
    std::vector<connectors::Plan> plans;
};

std::optional<StoredRequest> unfinished_request(state::StateDb& state) {
    SQLite::Statement query(state.db(),
                            "SELECT id, plan FROM erasures WHERE status = 'applying' ORDER BY created DESC LIMIT 1");
    if (!query.executeStep()) return std::nullopt;
    StoredRequest stored;
    stored.id = query.getColumn(0).getString();
    auto json = nlohmann::json::parse(query.getColumn(1).getString());
    stored.resolution = Resolution::from_json(json.at("resolution"));
    for (const auto& plan : json.at("plans")) stored.plans.push_back(connectors::Plan::from_json(plan));
    return stored;
}

void store_request(state::StateDb& state, const StoredRequest& request, crypto::Keystore* keystore) {
    nlohmann::json plans = nlohmann::json::array();
    for (const auto& plan : request.plans) plans.push_back(plan.to_json());
    const auto& asked = request.resolution.asked;
    SQLite::Statement insert(state.db(),
                             "INSERT INTO erasures (id, created, updated, kind, tenant, status, plan, "
                             "sealed_identifiers, markers) VALUES (?, ?, ?, ?, ?, 'applying', ?, ?, ?)");
    auto now = util::format_iso8601(util::now());
    insert.bind(1, request.id);
    insert.bind(2, now);
    insert.bind(3, now);
    insert.bind(4, asked.subjects.empty() ? "tenant" : "subject");
    if (asked.tenant)
        insert.bind(5, *asked.tenant);
    else
        insert.bind(5);
    insert.bind(6, nlohmann::json{{"resolution", request.resolution.to_json()}, {"plans", plans}}.dump());
    if (keystore_usable(keystore)) {
        auto sealed = seal_identifiers(*keystore, request.id, request.resolution);
        insert.bind(7, sealed.data(), static_cast<int>(sealed.size()));
    } else {
        insert.bind(7);
    }
    insert.bind(
        8, nlohmann::json(asked.tenant ? std::vector<std::string>{*asked.tenant} : std::vector<std::string>{}).dump());
    insert.exec();
}

// Ends a request with status (verified, residue, failed): its identifiers leave the plan column
// (and, through secure_delete and the checkpoint, the database file), the report and certificate
// stay.
void finish_request(state::StateDb& state, const EraseReport& report, const char* status) {
    auto& db = state.db();
    db.exec("PRAGMA secure_delete = ON");
    SQLite::Statement update(db,
                             "UPDATE erasures SET status = ?, updated = ?, plan = NULL, report = ?, certificate = ? "
                             "WHERE id = ?");
    update.bind(1, status);
    update.bind(2, util::format_iso8601(util::now()));
    update.bind(3, report.to_json().dump());
    if (report.certificate.is_null())
        update.bind(4);
    else
        update.bind(4, report.certificate.dump());
    update.bind(5, report.request);
    update.exec();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::string removal_time(const backup::BackupFile& backup, const policy::PolicySet* policies) {
    const auto* rule = policies ? backup::backup_retention_rule(*policies) : nullptr;
    if (!rule) return "no retention rule for backups";
    auto max_age = rule->max_age_seconds;
    for (const auto& [tenant, seconds] : rule->tenant_max_age)
        if (tenant == backup.tenant) max_age = seconds;
    return util::format_iso8601(backup.created + max_age) + " (" + rule->id + ")";
}

std::vector<backup::BackupFile> backups_of(const config::Workspace& workspace, crypto::Keystore& keystore,
                                           const std::function<bool(const std::string&)>& wanted) {
    std::vector<backup::BackupFile> found;
    for (auto& file : backup::list(workspace, keystore))
        if (wanted(file.tenant)) found.push_back(std::move(file));
    return found;
}

bool has_keystore(crypto::Keystore* keystore) { return keystore && keystore->initialised(); }

// A tenant's backups: its keys destroyed, so every backup sealed for it is unreadable at once.
BackupErasure shred_tenant_backups(const config::Workspace& workspace, state::StateDb& state,
                                   crypto::Keystore* keystore, const std::string& tenant, bool dry_run) {
    BackupErasure result;
    if (!has_keystore(keystore)) {
        result.method = "none";
        result.note = "the workspace has no keystore, so no encrypted backup of the tenant exists";
        return result;
    }
    result.method = "purge by cryptographic erase: the tenant's keys destroyed";
    auto backups = backups_of(workspace, *keystore, [&](const std::string& t) { return t == tenant; });
    if (auto destroyed = keystore->destroyed_tenant(tenant)) {
        result.keys_destroyed.push_back(destroyed->id);
        result.note = "keys destroyed on " + destroyed->destroyed;
    } else {
        bool has_keys = false;
        for (const auto& key : keystore->list()) has_keys = has_keys || (key.tenant == tenant && key.destroyed.empty());
        if (has_keys) {
            for (const auto& key : keystore->destroy_tenant(tenant, dry_run).keys)
                result.keys_destroyed.push_back(key.id);
        } else {
            result.note = "the keystore held no key of the tenant: no backup of it was made";
        }
    }
    if (!dry_run && keystore->unlocked()) ErasureLedger(state, *keystore).record_tenant(tenant);
    result.backups_unreadable = backups.size();
    return result;
}

// A person's backups cannot be rewritten: the ledger makes every restore leave them out, and
// the certificate names the backups that hold them until retention removes them.
BackupErasure ledger_subject_backups(const config::Workspace& workspace, state::StateDb& state,
                                     crypto::Keystore* keystore, const Resolution& resolution,
                                     const policy::PolicySet* policies, bool dry_run) {
    BackupErasure result;
    if (!has_keystore(keystore)) {
        result.method = "none";
        result.note = "the workspace has no keystore, so no encrypted backup exists";
        return result;
    }
    if (!keystore->unlocked())
        throw Error::usage("erasing a person needs the keystore unlocked, to record them in the erasure ledger",
                           "give --passphrase-file or --key-file as for 'gdprctl backup'");
    result.method = "erasure ledger: every restore leaves these identifiers out";
    const auto& scope = resolution.asked.tenant;
    auto backups = backups_of(workspace, *keystore,
                              [&](const std::string& tenant) { return !scope || tenant == *scope || tenant.empty(); });
    for (const auto& backup : backups)
        if (backup.status == "readable")
            result.still_holding.push_back({std::filesystem::relative(backup.path, workspace.backup_dir).string(),
                                            backup.tenant, util::format_iso8601(backup.created),
                                            removal_time(backup, policies)});
    if (!dry_run) {
        ErasureLedger ledger(state, *keystore);
        for (const auto& id : resolution.selector.subjects) ledger.record_subject(id.kind, id.value);
    }
    return result;
}

Verification rescan(const config::Workspace& workspace, scan::Connectors& connectors, const Resolution& resolution,
                    crypto::Keystore* keystore) {
    Verification verification;
    auto patterns = rescan_patterns(resolution);
    pii::IdentifierMatcher matcher(patterns);
    verification.patterns = patterns.size();
    for (auto& connector : connectors) {
        auto report = connector->verify(resolution.selector, matcher);
        verification.sources.push_back(connector->source().name);
        verification.records_scanned += report.records_scanned;
        verification.bytes_scanned += report.bytes_scanned;
        for (auto& residue : report.residue)
            verification.residue.push_back({connector->source().name, std::move(residue)});
    }
    if (resolution.asked.subjects.empty() && has_keystore(keystore)) {
        const auto& tenant = *resolution.asked.tenant;
        for (const auto& backup : backups_of(workspace, *keystore, [&](const std::string& t) { return t == tenant; }))
            if (backup.status == "readable")
                verification.readable_backups.push_back(
                    std::filesystem::relative(backup.path, workspace.backup_dir).string());
        verification.sources.push_back("backups");
    }
    verification.time = util::format_iso8601(util::now());
    return verification;
}

// One action per dataset: a log set rewritten file by file is one "rewrite N files".
std::vector<connectors::PlanItem> per_dataset(const std::vector<connectors::PlanItem>& items) {
    std::vector<connectors::PlanItem> merged;
    std::vector<std::size_t> steps;
    for (const auto& item : items) {
        // Only the files of one log set are merged; a table's own rows and other people's are not.
        auto is_file = [](const connectors::PlanItem& i) { return i.snapshot.contains("file"); };
        auto same = std::find_if(merged.begin(), merged.end(), [&](const connectors::PlanItem& m) {
            return m.dataset == item.dataset && is_file(m) && is_file(item);
        });
        if (same == merged.end()) {
            merged.push_back(item);
            steps.push_back(1);
            continue;
        }
        same->records += item.records;
        same->bytes += item.bytes;
        auto& count = steps[static_cast<std::size_t>(same - merged.begin())];
        same->what = "rewrite " + std::to_string(++count) + " files";
    }
    return merged;
}

nlohmann::json sources_json(const std::vector<SourceErasure>& sources) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& source : sources) {
        nlohmann::json actions = nlohmann::json::array();
        for (const auto& item : per_dataset(source.items)) {
            nlohmann::json action = {{"dataset", item.dataset}, {"what", item.what}, {"records", item.records}};
            if (item.other_people) action["other_people"] = true;
            if (!item.blocked.empty()) action["blocked"] = item.blocked;
            actions.push_back(std::move(action));
        }
        out.push_back({{"source", source.source},
                       {"kind", source.kind},
                       {"method", source.method},
                       {"records", source.records},
                       {"bytes", source.bytes},
                       {"actions", actions},
                       {"notes", source.notes}});
    }
    return out;
}

nlohmann::json backups_json(const BackupErasure& backups) {
    nlohmann::json held = nlohmann::json::array();
    for (const auto& backup : backups.still_holding)
        held.push_back({{"backup", backup.file},
                        {"tenant", backup.tenant},
                        {"created", backup.created},
                        {"removed_by_retention", backup.removed_by_retention}});
    nlohmann::json out = {{"method", backups.method},
                          {"keys_destroyed", backups.keys_destroyed},
                          {"backups_unreadable", backups.backups_unreadable},
                          {"still_holding", held}};
    if (!backups.note.empty()) out["note"] = backups.note;
    return out;
}

nlohmann::json verification_json(const Verification& verification) {
    nlohmann::json residue = nlohmann::json::array();
    for (const auto& [source, left] : verification.residue)
        residue.push_back({{"source", source}, {"location", left.location}, {"matches", left.matches}});
    return {{"time", verification.time},
            {"sources", verification.sources},
            {"records_scanned", verification.records_scanned},
            {"bytes_scanned", verification.bytes_scanned},
            {"patterns", verification.patterns},
            {"result", verification.clean() ? "no residue" : "residue found"},
            {"residue", residue},
            {"readable_backups", verification.readable_backups}};
}

// done: what the erasure did, as its report's JSON has it ("sources", "backups").
nlohmann::json certificate_body(const config::Workspace& workspace, const nlohmann::json& done,
                                const Verification& rescan, const Resolution& resolution, const journal::Entry& entry) {
    auto verification = verification_json(rescan);
    verification.erase("residue");
    verification.erase("readable_backups");
    return {{"format", k_certificate_format},
            {"request", done.at("request")},
            {"issued", util::format_iso8601(util::now())},
            {"platform", workspace.platform},
            {"erased", erased_json(resolution, workspace.state_dir)},
            {"sources", done.at("sources")},
            {"backups", done.at("backups")},
            {"verification", verification},
            {"tool",
             {{"name", "gdprctl"},
              {"version", k_version},
              {"openssl", OpenSSL_version(OPENSSL_VERSION)},
              {"sqlite", sqlite3_libversion()}}},
            {"journal_head", {{"seq", entry.seq}, {"hash", entry.hash}}}};
}

nlohmann::json journal_counts(const EraseReport& report) {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& source : report.sources)
        counts[source.source] = {{"records", source.records}, {"bytes", source.bytes}};
    counts["backup_keys_destroyed"] = report.backups.keys_destroyed.size();
    counts["residue"] = report.verification.residue.size() + report.verification.readable_backups.size();
    return counts;
}

nlohmann::json journal_selector(const EraseReport& report) {
    return {{"request", report.request},
            {"kind", report.kind},
            {"tenant", report.tenant ? nlohmann::json(*report.tenant) : nullptr},
            {"identifiers", report.identifiers}};
}

EraseReport report_for(const std::string& request, const Resolution& resolution) {
    EraseReport report;
    report.request = request;
    report.kind = resolution.asked.subjects.empty() ? "tenant" : "subject";
    report.tenant = resolution.asked.tenant;
    report.identifiers = resolution.selector.subjects.size();
    report.linked = resolution.linked;
    report.shared_addresses = resolution.shared;
    return report;
}

BackupErasure erase_backups(const config::Workspace& workspace, state::StateDb& state, const EraseOptions& options,
                            const Resolution& resolution, bool dry_run) {
    if (resolution.asked.subjects.empty())
        return shred_tenant_backups(workspace, state, options.keystore, *resolution.asked.tenant, dry_run);
    return ledger_subject_backups(workspace, state, options.keystore, resolution, options.policies, dry_run);
}

void write_certificate(const std::filesystem::path& path, const nlohmann::json& certificate) {
    // A certificate holds no personal data (identifiers are keyed hashes): readable by others.
    util::write_file_atomically(path, certificate.dump(2) + "\n", 0644, util::Replace::never);
}

}  // namespace

std::string Verification::to_text() const {
    std::ostringstream out;
    out << sources.size() << " sources, " << records_scanned << " records, " << bytes_scanned << " bytes, " << patterns
        << " patterns: ";
    if (clean()) {
        out << "nothing left.\n";
        return out.str();
    }
    out << "RESIDUE:\n";
    for (const auto& [source, left] : residue)
        out << "  " << source << ": " << left.location << ": " << left.matches << "\n";
    for (const auto& backup : readable_backups) out << "  backups: " << backup << " still opens\n";
    return out.str();
}

std::uint64_t EraseReport::records() const {
    std::uint64_t total = 0;
    for (const auto& source : sources) total += source.records;
    return total;
}

nlohmann::json EraseReport::to_json() const {
    return {{"request", request},
            {"kind", kind},
            {"tenant", tenant ? nlohmann::json(*tenant) : nullptr},
            {"dry_run", dry_run},
            {"resumed", resumed},
            {"identifiers", identifiers},
            {"linked_identifiers", linked},
            {"shared_addresses_left_out", shared_addresses.size()},
            {"records", records()},
            {"sources", sources_json(sources)},
            {"backups", backups_json(backups)},
            {"verification", dry_run ? nlohmann::json(nullptr) : verification_json(verification)},
            {"certified", !certificate.is_null()},
            {"blocked", blocked},
            {"failure", failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(failure)}};
}

std::string EraseReport::to_text() const {
    std::ostringstream out;
    std::string who = kind == "tenant"
                          ? "tenant " + *tenant
                          : std::to_string(identifiers) + " identifier(s) of one person (" + std::to_string(linked) +
                                " found through the data map's links)" + (tenant ? " within tenant " + *tenant : "");
    out << (dry_run ? "Would erase " : "Erased ") << who;
    if (!dry_run) out << " (request " << request << (resumed ? ", resumed" : "") << ")";
    out << ": " << records() << " records and files\n";
    for (const auto& source : sources) {
        out << "  " << source.source << " (" << source.kind << "): " << source.records << " (" << source.bytes
            << " bytes)\n";
        for (const auto& item : per_dataset(source.items)) {
            out << "    " << item.dataset << ": " << item.what << ", " << item.records
                << (item.other_people ? " rows of other people" : " records") << "\n";
            if (!item.blocked.empty()) out << "      BLOCKED: " << item.blocked << "\n";
        }
    }
    for (const auto& address : shared_addresses)
        out << "  left alone: " << address << " was used by other people too; erase it within one tenant with "
            << "--tenant T --subject ip:" << address << " if it is theirs\n";
    out << "Backups: " << backups.method;
    if (!backups.keys_destroyed.empty())
        out << "; " << backups.keys_destroyed.size() << " key(s) " << (dry_run ? "to destroy" : "destroyed") << ", "
            << backups.backups_unreadable << " backup(s) " << (dry_run ? "would become" : "now") << " unreadable";
    if (!backups.note.empty()) out << " (" << backups.note << ")";
    out << "\n";
    for (const auto& held : backups.still_holding)
        out << "  " << held.file << " (made " << held.created << ") holds them until " << held.removed_by_retention
            << "\n";
    if (!blocked.empty())
        out << "BLOCKED: " << blocked.size() << " problem(s) above stop this erasure; nothing changes until the "
            << "data map says what to do.\n";
    if (dry_run) return out.str();
    out << "Rescan: " << verification.to_text();
    if (verification.clean())
        out << "Certificate: signed (Ed25519) and kept in the state database; 'gdprctl certificate show --request "
            << request << "' prints it.\n";
    else
        out << "No certificate: one is signed only when the rescan finds nothing left.\n";
    return out.str();
}

namespace {

// Ends a request whose source `failed` threw: the sources before it are done, the rest are not.
void fail_request(state::StateDb& state, EraseReport report, std::size_t failed, const Error& error) {
    report.failure = report.sources[failed].source + ": " + error.what();
    for (std::size_t i = failed; i < report.sources.size(); ++i) {
        report.sources[i].items.clear();
        report.sources[i].records = report.sources[i].bytes = 0;
        report.sources[i].notes = {i == failed ? "failed (a person's erasure of an SQL source changes nothing then)"
                                               : "not reached"};
    }
    // The journal says that it failed and where; the message, which may quote a store's
    // values, stays in the private state database's report.
    journal::Journal(state).append("erase", journal_selector(report), {report.sources[failed].source},
                                   journal_counts(report), "error: failed in " + report.sources[failed].source);
    finish_request(state, report, "failed");
}

// Every reason, in every source's plan, why the erasure cannot be carried out as planned.
std::vector<std::string> blocked_reasons(const std::vector<connectors::Plan>& plans) {
    std::vector<std::string> reasons;
    for (const auto& plan : plans)
        for (auto& reason : plan.blocked()) reasons.push_back(std::move(reason));
    return reasons;
}

[[noreturn]] void refuse_blocked(const std::vector<std::string>& reasons) {
    std::string text = "the erasure cannot be carried out as the data map stands; nothing was changed:";
    for (const auto& reason : reasons) text += "\n  - " + reason;
    throw Error::findings(text, "fix each point, look at the plan again with --dry-run, and run the erasure again");
}

// Carries out a stored request from wherever an earlier run stopped, then rescans and certifies.
EraseReport carry_out(const config::Workspace& workspace, scan::Connectors& connectors, state::StateDb& state,
                      const EraseOptions& options, const StoredRequest& request, bool resumed) {
    auto report = report_for(request.id, request.resolution);
    report.resumed = resumed;
    report.sources = planned_sources(connectors, request.plans);
    state::DurableSteps progress(state, state::DurableSteps::Of::erasure_request, request.id);
    for (std::size_t i = 0; i < request.plans.size(); ++i) {
        const auto& plan = request.plans[i];
        try {
            auto applied = connector_named(connectors, plan.source).apply(plan, progress);
            report.sources[i].notes = applied.notes;
        } catch (const Error& e) {
            // A failure that is not an interruption ends the request, saying what was done:
            // each SQL source of a person's erasure rolled back whole; the next erasure starts
            // afresh from the stores as they are (with the data map as it is then).
            if (e.kind() != ErrorKind::interrupted) fail_request(state, report, i, e);
            throw;
        }
    }
    report.backups = erase_backups(workspace, state, options, request.resolution, false);
    report.verification = rescan(workspace, connectors, request.resolution, options.keystore);
    journal::Journal journal(state);
    auto entry = journal.append("erase", journal_selector(report), workspace.source_names(), journal_counts(report),
                                report.verification.clean() ? "ok: verified, certificate signed"
                                                            : "findings: residue after erasure, no certificate");
    if (report.verification.clean()) {
        auto key = SigningKey::load_or_create(workspace.state_dir);
        report.certificate = sign_certificate(
            certificate_body(workspace, report.to_json(), report.verification, request.resolution, entry), key);
        if (options.certificate_out) write_certificate(*options.certificate_out, report.certificate);
    }
    finish_request(state, report, report.verification.clean() ? "verified" : "residue");
    return report;
}

}  // namespace

EraseReport run_erase(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                      const EraseOptions& options) {
    util::StoreLock lock(workspace.state_dir, options.wait);
    state::StateDb state(workspace.state_dir);
    auto connectors = open_sources(workspace);
    auto unfinished = unfinished_request(state);
    if (unfinished && !options.dry_run) {
        if (unfinished->resolution.asked.to_plan_json() != options.selector.to_plan_json() &&
            !(options.selector.subjects.empty() && !options.selector.tenant))
            throw Error::usage("erasure " + unfinished->id + " was interrupted and must finish first",
                               "run 'gdprctl erase --resume', then this erasure");
        return carry_out(workspace, connectors, state, options, *unfinished, true);
    }
    check_selector(options.selector);
    auto resolution = resolve(options.selector, connectors);
    StoredRequest request{new_request_id(util::now()), resolution, plan_everywhere(connectors, resolution.selector)};
    auto blocked = blocked_reasons(request.plans);
    if (options.dry_run) {
        auto report = report_for("", resolution);
        report.dry_run = true;
        report.blocked = blocked;
        report.sources = planned_sources(connectors, request.plans);
        report.backups = erase_backups(workspace, state, options, resolution, true);
        journal::Journal(state).append("erase --dry-run", journal_selector(report), workspace.source_names(),
                                       journal_counts(report), "dry run: nothing changed");
        return report;
    }
    if (!blocked.empty()) refuse_blocked(blocked);
    store_request(state, request, options.keystore);
    return carry_out(workspace, connectors, state, options, request, false);
}

namespace {

// A request that ended in residue, now found clean: its certificate, signed over what the
// erasure did and this rescan, and its status verified.
nlohmann::json certify_late(const config::Workspace& workspace, state::StateDb& state, const std::string& request,
                            const Resolution& resolution, const Verification& verification,
                            const journal::Entry& entry) {
    SQLite::Statement stored(state.db(), "SELECT report FROM erasures WHERE id = ?");
    stored.bind(1, request);
    if (!stored.executeStep() || stored.getColumn(0).isNull()) return nullptr;
    auto done = nlohmann::json::parse(stored.getColumn(0).getString());
    auto key = SigningKey::load_or_create(workspace.state_dir);
    auto certificate = sign_certificate(certificate_body(workspace, done, verification, resolution, entry), key);
    done["verification"] = verification_json(verification);
    done["certified"] = true;
    SQLite::Statement update(state.db(),
                             "UPDATE erasures SET status = 'verified', updated = ?, report = ?, "
                             "certificate = ? WHERE id = ? AND status = 'residue'");
    update.bind(1, util::format_iso8601(util::now()));
    update.bind(2, done.dump());
    update.bind(3, certificate.dump());
    update.bind(4, request);
    update.exec();
    return certificate;
}

}  // namespace

EraseReport verify_request(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                           const std::string& request, const std::vector<connectors::Identifier>& given,
                           crypto::Keystore* keystore) {
    state::StateDb state(workspace.state_dir);
    SQLite::Statement query(
        state.db(), "SELECT kind, tenant, sealed_identifiers, markers, certificate, status FROM erasures WHERE id = ?");
    query.bind(1, request);
    if (!query.executeStep())
        throw Error::usage("no erasure request \"" + request + "\"", "'gdprctl erase list' shows the requests");
    auto status = query.getColumn(5).getString();
    Resolution resolution;
    if (!query.getColumn(1).isNull()) resolution.asked.tenant = query.getColumn(1).getString();
    bool tenant_request = query.getColumn(0).getString() == "tenant";
    resolution.markers = nlohmann::json::parse(query.getColumn(3).getString()).get<std::vector<std::string>>();
    std::optional<nlohmann::json> kept;
    if (!query.getColumn(2).isNull() && keystore_usable(keystore)) {
        auto blob = query.getColumn(2);
        const auto* bytes = static_cast<const unsigned char*>(blob.getBlob());
        kept = open_identifiers(*keystore, request, std::vector<unsigned char>(bytes, bytes + blob.getBytes()));
        if (!kept)
            throw Error::integrity("the identifiers kept for request " + request + " do not open",
                                   "the state database was changed, or the platform key is not the one "
                                   "that sealed them");
    }
    if (kept) {
        for (const auto& text : kept->at("subjects"))
            resolution.selector.subjects.push_back(connectors::parse_identifier(text.get<std::string>()));
        for (const auto& marker : kept->at("markers")) resolution.markers.push_back(marker.get<std::string>());
    }
    for (const auto& id : given) resolution.selector.subjects.push_back(id);
    if (!tenant_request && resolution.selector.subjects.empty())
        throw Error::usage("request " + request + " kept no identifiers to rescan for (no keystore was unlocked)",
                           "give the person's identifiers again with --subject KIND:VALUE");
    resolution.asked.subjects = resolution.selector.subjects;
    resolution.selector.tenant = resolution.asked.tenant;
    auto connectors = open_sources(workspace);
    auto report = report_for(request, resolution);
    report.verification = rescan(workspace, connectors, resolution, keystore);
    auto entry = journal::Journal(state).append("erase verify", journal_selector(report), workspace.source_names(),
                                                journal_counts(report),
                                                report.verification.clean() ? "ok: nothing left" : "findings: residue");
    if (report.verification.clean() && status == "residue") {
        resolution.salt = random_hex(16);
        report.certificate = certify_late(workspace, state, request, resolution, report.verification, entry);
    }
    return report;
}

std::vector<RequestSummary> list_requests(const config::Workspace& workspace) {
    state::StateDb state(workspace.state_dir);
    SQLite::Statement query(state.db(),
                            "SELECT id, created, kind, COALESCE(tenant, ''), status, report FROM erasures ORDER BY "
                            "created, id");
    std::vector<RequestSummary> requests;
    while (query.executeStep()) {
        RequestSummary summary{query.getColumn(0).getString(), query.getColumn(1).getString(),
                               query.getColumn(2).getString(), query.getColumn(3).getString(),
                               query.getColumn(4).getString(), 0};
        if (!query.getColumn(5).isNull())
            summary.records = nlohmann::json::parse(query.getColumn(5).getString()).value("records", std::uint64_t{0});
        requests.push_back(std::move(summary));
    }
    return requests;
}

nlohmann::json certificate_of(const config::Workspace& workspace, const std::string& request) {
    state::StateDb state(workspace.state_dir);
    SQLite::Statement query(state.db(), "SELECT status, certificate FROM erasures WHERE id = ?");
    query.bind(1, request);
    if (!query.executeStep())
        throw Error::usage("no erasure request \"" + request + "\"", "'gdprctl erase list' shows the requests");
    if (query.getColumn(1).isNull())
        throw Error::usage(
            "request " + request + " has no certificate (status: " + query.getColumn(0).getString() + ")",
            "a certificate is signed only when the rescan finds nothing left");
    return nlohmann::json::parse(query.getColumn(1).getString());
}

}  // namespace gdprctl::erase
