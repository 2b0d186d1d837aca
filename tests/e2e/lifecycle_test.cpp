// The whole lifecycle on a live platform, as one story: while nginx-rtmp records and serves HLS,
// ffmpeg publishes and viewers fetch from 127.0.0.10-13, gdprctl scans, checks the register
// and the policies, backs every tenant up, exports one, purges by retention 120 days ahead,
// erases a viewer seen under several tenants and then a tenant, writes the audit report (read
// in headless Chromium) and verifies its journal. Each step asserts what it proves; the test
// prints one line of figures per step.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
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

class Lifecycle : public ::testing::Test {
protected:
    int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const {
        return run_command(std::string(GDPRCTL_BINARY) + " --config " + (m_dir / "gdprctl.json").string() + " " + args,
                           out, err);
    }
    nlohmann::json gdprctl_json(const std::string& args, int expected_exit = 0) const {
        std::string out, err;
        EXPECT_EQ(gdprctl("--format json " + args, &out, &err), expected_exit) << args << "\n" << out << err;
        return out.empty() ? nlohmann::json() : nlohmann::json::parse(out);
    }
    void summarise(const std::string& step, const std::string& figures) {
        m_summary << "  " << step << std::string(step.size() < 28 ? 28 - step.size() : 1, ' ') << figures << "\n";
    }
    // The live-only datasets of a count can only have grown; the others must equal.
    static void expect_same_apart_from_live_growth(const Counts& before, const Counts& after, const std::string& what) {
        for (const auto& [key, records] : before) {
            auto dataset = key.substr(0, key.find('/'));
            auto now = after.count(key) ? after.at(key) : 0;
            if (k_live_datasets.count(dataset))
                EXPECT_GE(now, records) << what << ": " << key;
            else
                EXPECT_EQ(now, records) << what << ": " << key;
        }
    }

    TempDir m_temp;
    std::filesystem::path m_dir = m_temp / "platform";
    std::ostringstream m_summary;
};

std::uint64_t total(const Counts& counts) {
    std::uint64_t sum = 0;
    for (const auto& [key, records] : counts) sum += records;
    return sum;
}

std::string tenant_of(const std::string& key) { return key.substr(key.find('/') + 1); }

TEST_F(Lifecycle, TheWholeStoryOnALivePlatform) {
    // The seeded history is 25 days long and ends now; nginx, ffmpeg and the viewers of the two
    // live tenants (acme, bluebird) add to it throughout.
    util::UnixTime now = util::now() / 3600 * 3600;
    std::string err;
    ASSERT_EQ(seed_reference_platform(m_dir, "--seed 5 --days 25 --now " + std::to_string(now), &err), 0) << err;
    auto truth = nlohmann::json::parse(read_text(m_dir / "truth.json"));
    LivePlatform live(m_dir);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const std::string erased_tenant = "cafemuller";  // seeded, not live: nothing arrives for it after its erasure

    // 1. The inventory is truth.json plus what the live viewers added.
    auto seeded = scanned_records(m_dir);
    std::uint64_t live_added = 0;
    for (const auto& [tenant, facts] : truth["tenants"].items())
        for (const auto& [dataset, records] : facts["records"].items()) {
            auto key = dataset + "/" + tenant;
            auto expected = records.get<std::uint64_t>();
            if (k_live_datasets.count(dataset)) {
                EXPECT_GE(seeded[key], expected) << key;
                live_added += seeded[key] - expected;
            } else {
                EXPECT_EQ(seeded[key], expected) << key;
            }
        }
    EXPECT_GT(seeded["access-log/acme"], truth["tenants"]["acme"]["records"]["access-log"].get<std::uint64_t>())
        << "the live viewers' lines are not in the inventory";
    summarise("1 scan", std::to_string(total(seeded)) + " records in " + std::to_string(seeded.size()) +
                            " dataset/tenant pairs; " + std::to_string(live_added) + " added live");

    // 2. The register and the policies hold against what the stores really hold.
    ASSERT_EQ(gdprctl("register import " + (k_source_dir / "examples/refstack/register.json").string()), 0);
    auto validated = gdprctl_json("register validate --live");
    EXPECT_TRUE(validated["findings"].empty()) << validated.dump(2);
    auto checked = gdprctl_json("check --live");
    EXPECT_TRUE(checked["findings"].empty()) << checked.dump(2);
    summarise("2 register + check --live", "clean: " + std::to_string(checked["policies"].size()) + " policies");

    // 3. Every tenant backed up under its own key, every chunk authenticated.
    ASSERT_EQ(gdprctl("keys init --key-file " + (m_temp / "master.key").string()), 0);
    auto created = gdprctl_json("backup create --all");
    std::map<std::string, std::string> backup_of;
    for (const auto& backup : created["backups"]) backup_of[backup["tenant"]] = backup["path"];
    ASSERT_EQ(backup_of.size(), truth["tenants"].size() + 1);  // and the platform-wide data
    std::string out;
    EXPECT_EQ(gdprctl("backup verify --all", &out), 0) << out;
    summarise("3 backup create + verify", std::to_string(backup_of.size()) + " encrypted archives, 0 corrupt");

    // 4. Tenant A's export holds exactly its records, and verifies.
    auto exported = gdprctl_json("export --tenant acme --out " + (m_temp / "acme.zip").string());
    std::uint64_t exported_records = 0;
    for (const auto& dataset : exported["datasets"]) {
        auto name = dataset["dataset"].get<std::string>();
        exported_records += dataset["records"].get<std::uint64_t>();
        if (!k_live_datasets.count(name)) {
            EXPECT_EQ(dataset["records"], truth["tenants"]["acme"]["records"].value(name, std::uint64_t{0})) << name;
        }
    }
    EXPECT_EQ(gdprctl("export verify " + (m_temp / "acme.zip").string(), &out), 0) << out;
    summarise("4 export acme + verify",
              std::to_string(exported_records) + " records, " + exported["entries"].dump() + " entries, intact");

    // 5. Retention 120 days ahead, while nginx keeps writing: everything the purge's plan saw has
    // expired and goes; no line nginx writes meanwhile is lost; what has no limit stays.
    auto before_purge = scanned_records(m_dir);
    util::UnixTime ahead = now + 120 * k_day;
    auto purge_started = util::now();
    Prober prober(live.http_port());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto purged = gdprctl_json("retention apply --force --now " + std::to_string(ahead));
    int sent_when_done = prober.sent();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto answered = prober.stop();
    auto probes = purged_probes(answered, logged_probes(m_dir / "logs"));
    EXPECT_TRUE(probes.missing.empty()) << "probe " << probes.missing.front() << " answered by nginx, not in its log";
    EXPECT_GT(probes.first_kept, 0);
    EXPECT_LE(probes.first_kept, sent_when_done) << "lines written during the purge must survive it";
    for (const auto& line : access_lines(m_dir / "logs")) {
        auto open = line.find('[');
        auto time = open == std::string::npos ? std::nullopt : util::parse_nginx_time(line.substr(open + 1, 26));
        if (time) {
            EXPECT_GE(*time, purge_started - 1) << "a line older than the purge is left: " << line;
        }
    }
    auto after_purge = scanned_records(m_dir);
    for (const auto& [key, records] : before_purge) {
        auto dataset = key.substr(0, key.find('/'));
        if (dataset == "platform-db:chat_messages" || dataset == "platform-db:questions" ||
            k_live_datasets.count(dataset))
            continue;  // under a limit (chat), or logs the purge emptied and nginx refills
        EXPECT_EQ(after_purge[key], records) << key << " has no deletion limit and must stay";
    }
    // At that time nothing but what nginx wrote after the purge began is past a limit.
    auto at_that_time = gdprctl_json("check --live --now " + std::to_string(ahead), 1);
    for (const auto& finding : at_that_time["findings"])
        EXPECT_EQ(finding["policy"], "limits.usage-logs-90d") << finding.dump();
    summarise("5 retention apply +120 d", purged["records"].dump() + " records purged; " +
                                              std::to_string(answered.size()) + " live requests meanwhile, " +
                                              std::to_string(probes.missing.size()) + " lines lost");

    // 6. A viewer seen under several tenants, then tenant B: erased, rescanned, certified.
    const nlohmann::json* viewer = nullptr;
    for (const auto& subject : truth["subjects"])
        if (subject["tenants"].size() >= 2 && subject["identifiers"].contains("email")) viewer = &subject;
    ASSERT_NE(viewer, nullptr);
    auto email = (*viewer)["identifiers"]["email"].get<std::string>();
    auto before_erasure = scanned_records(m_dir);
    auto person = gdprctl_json("erase --yes --subject " + shell_quote("email:" + email) + " --certificate " +
                               (m_temp / "viewer.json").string());
    EXPECT_EQ(person["verification"]["result"], "no residue") << person.dump(2);
    EXPECT_GT(person["records"].get<std::uint64_t>(), 0u);
    auto found = gdprctl_json("export --dry-run --subject " + shell_quote("email:" + email));
    EXPECT_EQ(found["records"], 0) << "the viewer is still found";

    auto before_tenant = scanned_records(m_dir);
    auto tenant =
        gdprctl_json("erase --yes --tenant " + erased_tenant + " --certificate " + (m_temp / "tenant.json").string());
    EXPECT_EQ(tenant["verification"]["result"], "no residue") << tenant.dump(2);
    auto after = scanned_records(m_dir);
    Counts others_before, others_after;
    for (const auto& [key, records] : before_tenant) {
        if (tenant_of(key) == erased_tenant) {
            EXPECT_EQ(after.count(key), 0u) << key << " still holds records";
        } else {
            others_before[key] = records;
        }
    }
    for (const auto& [key, records] : after)
        if (tenant_of(key) != erased_tenant) others_after[key] = records;
    expect_same_apart_from_live_growth(others_before, others_after, "another tenant after the tenant's erasure");

    ASSERT_EQ(gdprctl("certificate pubkey -o " + (m_temp / "platform.pem").string()), 0);
    for (const char* certificate : {"viewer.json", "tenant.json"})
        EXPECT_EQ(gdprctl("certificate verify --pubkey " + (m_temp / "platform.pem").string() + " " +
                              (m_temp / certificate).string(),
                          &out),
                  0)
            << out;
    // B's backups are shredded (unreadable by design); A's still restore.
    auto verified = gdprctl_json("backup verify --all");
    std::map<std::string, std::string> status;
    for (const auto& backup : verified["results"]) status[backup["tenant"]] = backup["status"];
    EXPECT_EQ(status[erased_tenant], "shredded") << verified.dump(2);
    EXPECT_EQ(gdprctl("backup restore " + backup_of[erased_tenant] + " --to " + (m_temp / "b").string()), 2);
    EXPECT_EQ(gdprctl("backup restore " + backup_of["acme"] + " --to " + (m_temp / "a").string(), &out, &err), 0)
        << err;
    summarise("6 erase viewer + tenant", person["records"].dump() + " + " + tenant["records"].dump() +
                                             " records erased, rescans clean, 2 certificates verify, " + erased_tenant +
                                             "'s backup shredded, acme's restores");
    live.down();

    // 7. The audit report shows the erasures, the purge and the clean checks, in a real browser.
    ASSERT_EQ(gdprctl("audit --out " + (m_temp / "report.html").string()), 0);
    auto page = render_in_chromium(m_temp / "report.html", m_temp / "profile");
    ASSERT_EQ(page.exit, 0);
    EXPECT_TRUE(page.console.empty()) << page.console.front();
    for (const auto& request : {person["request"].get<std::string>(), tenant["request"].get<std::string>()})
        EXPECT_NE(page.dom.find("<code>" + request + "</code>"), std::string::npos) << request;
    EXPECT_NE(page.dom.find("<tr data-purge-records=\"" + purged["records"].dump() + "\">"), std::string::npos);
    EXPECT_NE(page.dom.find("<tr data-check-outcome=\"ok\">"), std::string::npos) << "no clean check on the report";
    summarise("7 audit report", "rendered by Chromium: 2 erasures, the purge, the clean checks");

    // 8. The journal holds, and lists every step.
    auto entries = gdprctl_json("journal show");
    std::multiset<std::string> commands;
    for (const auto& entry : entries) commands.insert(entry["command"].get<std::string>());
    for (const char* command : {"scan", "register import", "register validate", "check", "backup create", "export",
                                "retention apply", "erase", "keys destroy"})
        EXPECT_TRUE(commands.count(command)) << command << " is not in the journal";
    EXPECT_EQ(commands.count("erase"), 2u);
    EXPECT_EQ(gdprctl("journal verify", &out), 0) << out;
    summarise("8 journal verify", "the chain holds over " + std::to_string(entries.size()) + " entries");

    std::cout << "The lifecycle on the live platform (" << (platform_on_postgres() ? "PostgreSQL" : "SQLite") << "):\n"
              << m_summary.str();
}

}  // namespace
}  // namespace gdprctl::testing
