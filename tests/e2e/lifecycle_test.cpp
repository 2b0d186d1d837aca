// The whole lifecycle on a live platform, as one story: while nginx-rtmp records and serves HLS,
// ffmpeg publishes and viewers fetch from 127.0.0.10-13, gdprctl scans, checks the register
// and the policies, backs every tenant up, exports one, purges by retention 120 days ahead,
// carries out the erasure request of a viewer seen under several tenants, erases a tenant,
// records a breach and notifies it with counts from the stores, writes the audit report (read
// in headless Chromium) and verifies its journal. Each step asserts what it proves; the test
// prints one line of figures per step.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/util/time.hpp"
#include "tests/support/live_platform.hpp"
#include "tests/support/platform_database.hpp"
#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

using Counts = std::map<std::string, std::uint64_t>;  // "dataset/tenant" -> records

const std::filesystem::path k_source_dir = GDPRCTL_SOURCE_DIR;
constexpr std::int64_t k_day = 86400;
// What the running platform adds to the seeded stores: log lines, recordings and HLS segments
// of the live tenants. Everything else must match truth.json exactly.
const std::set<std::string> k_live_datasets = {"access-log", "rtmp-log", "recordings", "hls"};

std::uint64_t total(const Counts& counts) {
    std::uint64_t sum = 0;
    for (const auto& [key, records] : counts) sum += records;
    return sum;
}

std::string tenant_of(const std::string& key) { return key.substr(key.find('/') + 1); }

// The live-only datasets of a count can only have grown; the others must be equal.
void expect_same_apart_from_live_growth(const Counts& before, const Counts& after, const std::string& what) {
    for (const auto& [key, records] : before) {
        auto dataset = key.substr(0, key.find('/'));
        auto now = after.count(key) ? after.at(key) : 0;
        if (k_live_datasets.count(dataset)) {
            EXPECT_GE(now, records) << what << ": " << key;
        } else {
            EXPECT_EQ(now, records) << what << ": " << key;
        }
    }
}

// Each step asserts what it proves and adds its line of figures to the summary.
class Lifecycle : public ::testing::Test {
protected:
    static constexpr const char* k_tenant_a = "acme";        // live: exported, and its backups must still restore
    static constexpr const char* k_tenant_b = "cafemuller";  // not live: nothing arrives for it after its erasure

    // 25 days of seeded history ending now; nginx, ffmpeg and the viewers of the two live
    // tenants (acme, bluebird) add to it from here on.
    void bring_up_the_platform() {
        m_now = util::now() / 3600 * 3600;
        std::string err;
        ASSERT_EQ(seed_reference_platform(m_dir, "--seed 5 --days 25 --now " + std::to_string(m_now), &err), 0) << err;
        m_truth = nlohmann::json::parse(read_text(m_dir / "truth.json"));
        m_live = std::make_unique<LivePlatform>(m_dir);
        std::this_thread::sleep_for(std::chrono::seconds(3));
    }

    void scan_finds_the_seeded_truth_plus_what_the_viewers_added() {
        auto found = scanned_records(m_dir);
        std::uint64_t live_added = 0;
        for (const auto& [tenant, facts] : m_truth["tenants"].items())
            for (const auto& [dataset, records] : facts["records"].items()) {
                auto key = dataset + "/" + tenant;
                auto expected = records.get<std::uint64_t>();
                if (k_live_datasets.count(dataset)) {
                    EXPECT_GE(found[key], expected) << key;
                    live_added += found[key] - expected;
                } else {
                    EXPECT_EQ(found[key], expected) << key;
                }
            }
        EXPECT_GT(found["access-log/acme"], m_truth["tenants"]["acme"]["records"]["access-log"].get<std::uint64_t>())
            << "the live viewers' lines are not in the inventory";
        summarise("1 scan", std::to_string(total(found)) + " records in " + std::to_string(found.size()) +
                                " dataset/tenant pairs; " + std::to_string(live_added) + " added live");
    }

    void register_and_policies_hold_on_the_live_stores() {
        ASSERT_EQ(gdprctl("register import " + (k_source_dir / "examples/refstack/register.json").string()), 0);
        auto validated = gdprctl_json("register validate --live");
        EXPECT_TRUE(validated["findings"].empty()) << validated.dump(2);
        auto checked = gdprctl_json("check --live");
        EXPECT_TRUE(checked["findings"].empty()) << checked.dump(2);
        summarise("2 register + check --live", "clean: " + std::to_string(checked["policies"].size()) + " policies");
    }

    void back_up_every_tenant_under_its_own_key() {
        ASSERT_EQ(gdprctl("keys init --key-file " + (m_temp / "master.key").string()), 0);
        auto created = gdprctl_json("backup create --all");
        for (const auto& backup : created["backups"]) m_backup_of[backup["tenant"]] = backup["path"];
        ASSERT_EQ(m_backup_of.size(), m_truth["tenants"].size() + 1);  // and the platform-wide data
        std::string out;
        EXPECT_EQ(gdprctl("backup verify --all", &out), 0) << out;
        summarise("3 backup create + verify", std::to_string(m_backup_of.size()) + " encrypted archives, 0 corrupt");
    }

    void export_tenant_a_with_exactly_its_records() {
        auto archive = (m_temp / "acme.zip").string();
        auto exported = gdprctl_json(std::string("export --tenant ") + k_tenant_a + " --out " + archive);
        std::uint64_t exported_records = 0;
        for (const auto& dataset : exported["datasets"]) {
            auto name = dataset["dataset"].get<std::string>();
            exported_records += dataset["records"].get<std::uint64_t>();
            if (!k_live_datasets.count(name)) {
                EXPECT_EQ(dataset["records"], m_truth["tenants"][k_tenant_a]["records"].value(name, std::uint64_t{0}))
                    << name;
            }
        }
        std::string out;
        EXPECT_EQ(gdprctl("export verify " + archive, &out), 0) << out;
        summarise("4 export acme + verify",
                  std::to_string(exported_records) + " records, " + exported["entries"].dump() + " entries, intact");
    }

    // 120 days ahead of the platform's clock while nginx keeps writing: everything the purge's
    // plan saw has expired and goes, no line nginx writes meanwhile is lost, what has no limit stays.
    void purge_120_days_ahead_while_nginx_writes() {
        auto before = scanned_records(m_dir);
        util::UnixTime ahead = m_now + 120 * k_day;
        auto started = util::now();
        Prober prober(m_live->http_port());
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        auto purged = gdprctl_json("retention apply --force --now " + std::to_string(ahead));
        int sent_when_done = prober.sent();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        auto answered = prober.stop();
        auto probes = purged_probes(answered, logged_probes(m_dir / "logs"));
        EXPECT_TRUE(probes.missing.empty()) << "probe " << probes.missing.front() << " answered, not in the log";
        EXPECT_GT(probes.first_kept, 0);
        EXPECT_LE(probes.first_kept, sent_when_done) << "lines written during the purge must survive it";
        expect_no_access_line_before(started - 1);
        auto after = scanned_records(m_dir);
        for (const auto& [key, records] : before) {
            auto dataset = key.substr(0, key.find('/'));
            bool limited = dataset == "platform-db:chat_messages" || dataset == "platform-db:questions";
            if (!limited && !k_live_datasets.count(dataset)) {
                EXPECT_EQ(after[key], records) << key << " has no deletion limit and must stay";
            }
        }
        // At that time nothing but what nginx wrote after the purge began is past a limit.
        auto at_that_time = gdprctl_json("check --live --now " + std::to_string(ahead), 1);
        for (const auto& finding : at_that_time["findings"])
            EXPECT_EQ(finding["policy"], "limits.usage-logs-90d") << finding.dump();
        m_purged_records = purged["records"].get<std::uint64_t>();
        summarise("5 retention apply +120 d", std::to_string(m_purged_records) + " records purged; " +
                                                  std::to_string(answered.size()) + " live requests meanwhile, " +
                                                  std::to_string(probes.missing.size()) + " lines lost");
    }

    void expect_no_access_line_before(util::UnixTime time) {
        for (const auto& line : access_lines(m_dir / "logs")) {
            auto open = line.find('[');
            auto at = open == std::string::npos ? std::nullopt : util::parse_nginx_time(line.substr(open + 1, 26));
            if (at) {
                EXPECT_GE(*at, time) << "a line older than the purge is left: " << line;
            }
        }
    }

    std::uint64_t erase_a_viewer_seen_under_several_tenants() {
        const nlohmann::json* viewer = nullptr;
        for (const auto& subject : m_truth["subjects"])
            if (subject["tenants"].size() >= 2 && subject["identifiers"].contains("email")) viewer = &subject;
        EXPECT_NE(viewer, nullptr);
        if (!viewer) return 0;
        auto email = shell_quote("email:" + (*viewer)["identifiers"]["email"].get<std::string>());
        m_subject_request = gdprctl_json("request open --kind erasure --subject " + email + " --channel e-mail")["id"]
                                .get<std::string>();
        EXPECT_EQ(gdprctl("request verify " + m_subject_request + " --method 'e-mail confirmation' --by desk -q"), 0);
        auto person =
            gdprctl_json("erase --yes --request " + m_subject_request + " --certificate " + certificate("viewer"));
        EXPECT_EQ(person["verification"]["result"], "no residue") << person.dump(2);
        EXPECT_FALSE(person["recipients_to_tell"].empty()) << "Art. 19 named nobody";
        auto closed = gdprctl_json("request close " + m_subject_request + " --recipients-told");
        EXPECT_EQ(closed["status"], "answered");
        EXPECT_EQ(closed["answered_late"], false);
        EXPECT_GT(person["records"].get<std::uint64_t>(), 0u);
        EXPECT_EQ(gdprctl_json("export --dry-run --subject " + email)["records"], 0) << "the viewer is still found";
        m_requests.push_back(person["request"]);
        return person["records"].get<std::uint64_t>();
    }

    std::uint64_t erase_tenant_b_and_nothing_of_the_others() {
        auto before = scanned_records(m_dir);
        auto tenant =
            gdprctl_json(std::string("erase --yes --tenant ") + k_tenant_b + " --certificate " + certificate("tenant"));
        EXPECT_EQ(tenant["verification"]["result"], "no residue") << tenant.dump(2);
        auto after = scanned_records(m_dir);
        Counts others_before, others_after;
        for (const auto& [key, records] : before) {
            if (tenant_of(key) == k_tenant_b) {
                EXPECT_EQ(after.count(key), 0u) << key << " still holds records";
            } else {
                others_before[key] = records;
            }
        }
        for (const auto& [key, records] : after)
            if (tenant_of(key) != k_tenant_b) others_after[key] = records;
        expect_same_apart_from_live_growth(others_before, others_after, "another tenant after the tenant's erasure");
        m_requests.push_back(tenant["request"]);
        return tenant["records"].get<std::uint64_t>();
    }

    void certificates_verify_with_the_platform_key() {
        ASSERT_EQ(gdprctl("certificate pubkey -o " + (m_temp / "platform.pem").string()), 0);
        std::string out;
        for (const char* name : {"viewer", "tenant"})
            EXPECT_EQ(
                gdprctl("certificate verify --pubkey " + (m_temp / "platform.pem").string() + " " + certificate(name),
                        &out),
                0)
                << out;
    }

    // B's backups are shredded (unreadable by design); A's still restore.
    void b_backups_shredded_a_backups_restore() {
        auto verified = gdprctl_json("backup verify --all");
        std::map<std::string, std::string> status;
        for (const auto& backup : verified["results"]) status[backup["tenant"]] = backup["status"];
        EXPECT_EQ(status[k_tenant_b], "shredded") << verified.dump(2);
        EXPECT_EQ(gdprctl("backup restore " + m_backup_of[k_tenant_b] + " --to " + (m_temp / "b").string()), 2);
        std::string err;
        EXPECT_EQ(
            gdprctl("backup restore " + m_backup_of[k_tenant_a] + " --to " + (m_temp / "a").string(), nullptr, &err), 0)
            << err;
    }

    // A breach of two tenants' access logs, found 30 hours ago: check flags it until the authority
    // and both tenants are told, and the notification's counts are the logs' own, counted from
    // outside by tests/data/breach/count_access_log.py.
    void a_breach_is_counted_in_the_stores_and_notified() {
        auto aware = util::format_iso8601(util::now() - 30 * 3600);
        m_breach =
            gdprctl_json("breach open --aware-at " + aware + " --summary 'access-log archive exposed' --tenant " +
                         k_tenant_a + " --tenant bluebird")["id"]
                .get<std::string>();
        EXPECT_EQ(gdprctl("check"), 1) << "the untold tenants are no finding";
        auto assessed = gdprctl_json("breach assess " + m_breach +
                                     " --source access-log --consequences 'addresses exposed' --measures 'removed' "
                                     "--risk risk");
        std::string counted;
        ASSERT_EQ(run_command("python3 " + (k_source_dir / "tests/data/breach/count_access_log.py").string() + " " +
                                  m_dir.string() + " " + k_tenant_a + " bluebird",
                              &counted),
                  0);
        auto expected = nlohmann::json::parse(counted);
        std::uint64_t records = 0;
        for (const auto& affected : assessed["assessment"]["affected"]) {
            const auto& logs = expected[affected["tenant"].get<std::string>()];
            EXPECT_EQ(affected["records_per_category"]["usage-data"], logs["lines"]) << affected.dump();
            EXPECT_EQ(affected["identifiers_per_kind"]["ip"], logs["addresses"]) << affected.dump();
            records += logs["lines"].get<std::uint64_t>();
        }
        auto notice =
            gdprctl_json("breach notify " + m_breach + " --to authority -o " + (m_temp / "authority.html").string());
        EXPECT_EQ(notice["document"]["nature"]["approximate_records"], records);
        for (const std::string tenant : {k_tenant_a, "bluebird"})
            EXPECT_EQ(gdprctl("breach notify " + m_breach + " --to controller --tenant " + tenant + " -o " +
                              (m_temp / (tenant + ".md")).string() + " -q"),
                      0);
        std::string out;
        EXPECT_EQ(gdprctl("check", &out), 0) << out;
        summarise("6b breach assess + notify", std::to_string(records) + " log lines of 2 tenants, as counted from " +
                                                   "outside; authority and both tenants told; check clean");
    }

    void audit_report_shows_the_erasures_the_purge_and_the_clean_checks() {
        ASSERT_EQ(gdprctl("audit --out " + (m_temp / "report.html").string()), 0);
        auto page = render_in_chromium(m_temp / "report.html", m_temp / "profile");
        ASSERT_EQ(page.exit, 0);
        EXPECT_TRUE(page.console.empty()) << page.console.front();
        for (const auto& request : m_requests)
            EXPECT_NE(page.dom.find("<code>" + request + "</code>"), std::string::npos) << request;
        EXPECT_NE(page.dom.find("<tr data-purge-records=\"" + std::to_string(m_purged_records) + "\">"),
                  std::string::npos);
        EXPECT_NE(page.dom.find("<tr data-check-outcome=\"ok\">"), std::string::npos) << "no clean check on the report";
        EXPECT_NE(page.dom.find("<tr data-request=\"" + m_subject_request + "\" data-overdue=\"false\">"),
                  std::string::npos);
        EXPECT_NE(page.dom.find("<tr data-breach=\"" + m_breach + "\""), std::string::npos);
        summarise("7 audit report",
                  "rendered by Chromium: 2 erasures, the request, the breach, the purge, the clean checks");
    }

    void journal_holds_and_lists_every_step() {
        auto entries = gdprctl_json("journal show");
        std::multiset<std::string> commands;
        for (const auto& entry : entries) commands.insert(entry["command"].get<std::string>());
        for (const char* command : {"scan", "register import", "register validate", "check", "backup create", "export",
                                    "retention apply", "erase", "keys destroy", "request open", "request erase",
                                    "request close", "breach open", "breach assess", "breach notify"})
            EXPECT_TRUE(commands.count(command)) << command << " is not in the journal";
        EXPECT_EQ(commands.count("erase"), 2u);
        std::string out;
        EXPECT_EQ(gdprctl("journal verify", &out), 0) << out;
        summarise("8 journal verify", "the chain holds over " + std::to_string(entries.size()) + " entries");
    }

    int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const {
        return run_command(std::string(GDPRCTL_BINARY) + " --config " + (m_dir / "gdprctl.json").string() + " " + args,
                           out, err);
    }
    nlohmann::json gdprctl_json(const std::string& args, int expected_exit = 0) const {
        std::string out, err;
        EXPECT_EQ(gdprctl("--format json " + args, &out, &err), expected_exit) << args << "\n" << out << err;
        return out.empty() ? nlohmann::json() : nlohmann::json::parse(out);
    }
    std::string certificate(const std::string& name) const { return (m_temp / (name + ".json")).string(); }
    void summarise(const std::string& step, const std::string& figures) {
        m_summary << "  " << step << std::string(step.size() < 28 ? 28 - step.size() : 1, ' ') << figures << "\n";
    }

    TempDir m_temp;
    std::filesystem::path m_dir = m_temp / "platform";
    util::UnixTime m_now = 0;
    nlohmann::json m_truth;
    std::unique_ptr<LivePlatform> m_live;
    std::map<std::string, std::string> m_backup_of;  // tenant ("" for the platform) -> backup file
    std::uint64_t m_purged_records = 0;
    std::vector<std::string> m_requests;  // the erasure requests, in order
    std::string m_subject_request;        // the viewer's erasure request (gdprctl request)
    std::string m_breach;
    std::ostringstream m_summary;
};

TEST_F(Lifecycle, TheWholeStoryOnALivePlatform) {
    ASSERT_NO_FATAL_FAILURE(bring_up_the_platform());
    scan_finds_the_seeded_truth_plus_what_the_viewers_added();
    ASSERT_NO_FATAL_FAILURE(register_and_policies_hold_on_the_live_stores());
    ASSERT_NO_FATAL_FAILURE(back_up_every_tenant_under_its_own_key());
    export_tenant_a_with_exactly_its_records();
    purge_120_days_ahead_while_nginx_writes();
    auto person = erase_a_viewer_seen_under_several_tenants();
    auto tenant = erase_tenant_b_and_nothing_of_the_others();
    ASSERT_NO_FATAL_FAILURE(certificates_verify_with_the_platform_key());
    b_backups_shredded_a_backups_restore();
    summarise("6 erase viewer + tenant", std::to_string(person) + " + " + std::to_string(tenant) +
                                             " records erased, rescans clean, 2 certificates verify, " + k_tenant_b +
                                             "'s backup shredded, acme's restores");
    m_live->down();
    ASSERT_NO_FATAL_FAILURE(a_breach_is_counted_in_the_stores_and_notified());
    ASSERT_NO_FATAL_FAILURE(audit_report_shows_the_erasures_the_purge_and_the_clean_checks());
    journal_holds_and_lists_every_step();
    std::cout << "The lifecycle on the live platform (" << (platform_on_postgres() ? "PostgreSQL" : "SQLite") << "):\n"
              << m_summary.str();
}

}  // namespace
}  // namespace gdprctl::testing
