// End to end: the reference platform (seeded, and live with nginx-rtmp + ffmpeg) scanned by the
// real binary, compared with the exact counts the seeder recorded in truth.json.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/platform_database.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

const std::string k_now = "1795447510";  // 2026-11-23T15:25:10Z: seeded data must not depend on the clock

int tool(const char* binary, const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
    return run_command(std::string(binary) + " " + args, out, err);
}

nlohmann::json scan_json(const std::filesystem::path& dir, const std::string& extra = "") {
    std::string out, err;
    int rc = tool(GDPRCTL_BINARY, "--config " + (dir / "gdprctl.json").string() + " --format json scan " + extra, &out,
                  &err);
    EXPECT_EQ(rc, 0) << err;
    return nlohmann::json::parse(out);
}

// records[tenant][dataset]
std::map<std::string, std::map<std::string, std::uint64_t>> records_of(const nlohmann::json& scan) {
    std::map<std::string, std::map<std::string, std::uint64_t>> records;
    for (const auto& source : scan["sources"])
        for (const auto& row : source["inventory"])
            records[row["tenant"].get<std::string>()][row["dataset"].get<std::string>()] +=
                row["records"].get<std::uint64_t>();
    return records;
}

std::map<std::string, std::uint64_t> malformed_of(const nlohmann::json& scan) {
    std::map<std::string, std::uint64_t> malformed;
    for (const auto& source : scan["sources"])
        if (source["malformed"].get<std::uint64_t>()) malformed[source["name"]] = source["malformed"];
    return malformed;
}

std::uint64_t sum_of(const nlohmann::json& scan, const std::string& dataset) {
    std::uint64_t total = 0;
    for (const auto& [tenant, datasets] : records_of(scan))
        if (datasets.count(dataset)) total += datasets.at(dataset);
    return total;
}

class SeededPlatform : public ::testing::Test {
protected:
    // Seeded once for the suite. A failure is reported by each test: one in SetUpTestSuite would
    // show as skipped tests, which CTest counts as passed.
    static void SetUpTestSuite() {
        s_dir = new TempDir();
        if (seed_reference_platform(s_dir->path(),
                                    "--tenants 5 --viewers 60 --days 40 --log-size 3M --seed 7 --now " + k_now,
                                    &s_seed_error) == 0)
            s_truth = nlohmann::json::parse(read_text(s_dir->path() / "truth.json"));
        else if (s_seed_error.empty())
            s_seed_error = "refstack seed failed";
    }
    static void TearDownTestSuite() { delete s_dir; }
    void SetUp() override { ASSERT_TRUE(s_seed_error.empty()) << s_seed_error; }
    static inline TempDir* s_dir = nullptr;
    static inline nlohmann::json s_truth;
    static inline std::string s_seed_error;
};

TEST_F(SeededPlatform, ScanFindsExactlyWhatTheSeederWrotePerTenantAndDataset) {
    auto records = records_of(scan_json(s_dir->path()));
    std::size_t compared = 0;
    for (const auto& [tenant, entry] : s_truth["tenants"].items())
        for (const auto& [dataset, count] : entry["records"].items()) {
            EXPECT_EQ(records[tenant][dataset], count.get<std::uint64_t>()) << tenant << " " << dataset;
            ++compared;
        }
    for (const auto& [dataset, count] : s_truth["platform"]["records"].items())
        EXPECT_EQ(records[""][dataset], count.get<std::uint64_t>()) << "platform-wide " << dataset;
    EXPECT_EQ(s_truth["tenants"].size(), 5u);
    EXPECT_GT(compared, 60u);
}

TEST_F(SeededPlatform, MalformedRecordsAreCountedNotFatal) {
    auto scan = scan_json(s_dir->path());
    std::map<std::string, std::uint64_t> expected = s_truth["malformed"].get<std::map<std::string, std::uint64_t>>();
    EXPECT_EQ(malformed_of(scan), expected);
    EXPECT_GT(expected["access-log"], 0u);
}

TEST_F(SeededPlatform, TheMappedPlatformHasNoUndeclaredPersonalData) {
    EXPECT_EQ(scan_json(s_dir->path())["totals"]["undeclared"], 0);
}

TEST_F(SeededPlatform, ASharedViewerIsFoundUnderEveryTenantTheyWatched) {
    const nlohmann::json* shared = nullptr;
    for (const auto& subject : s_truth["subjects"])
        if (subject["tenants"].size() >= 2) shared = &subject;
    ASSERT_NE(shared, nullptr);
    auto email = (*shared)["identifiers"]["email"].get<std::string>();
    std::string args;
    for (const auto& ip : (*shared)["identifiers"]["ip"]) args += " --subject ip:" + ip.get<std::string>();
    auto scan = scan_json(s_dir->path(), "--subject " + shell_quote("email:" + email) + args);
    std::set<std::string> tenants;
    for (const auto& [tenant, datasets] : records_of(scan))
        if (!tenant.empty()) tenants.insert(tenant);
    EXPECT_EQ(tenants.size(), (*shared)["tenants"].size());
    for (const auto& [dataset, count] : (*shared)["records"].items())
        EXPECT_EQ(sum_of(scan, dataset), count.get<std::uint64_t>()) << dataset;
}

TEST_F(SeededPlatform, AnUndeclaredColumnOfEmailsIsReportedByName) {
    TempDir copy;
    copy_platform(s_dir->path(), copy.path());
    std::filesystem::remove_all(copy / ".gdprctl");
    PlatformDatabase(copy.path())
        .execute(
            "ALTER TABLE viewers ADD COLUMN backup_contact TEXT; UPDATE viewers SET backup_contact = 'x' || id || "
            "'@example.net'");
    auto scan = scan_json(copy.path());
    ASSERT_EQ(scan["totals"]["undeclared"], 1);
    auto finding = scan["sources"][0]["undeclared"][0];
    EXPECT_EQ(finding["location"], "viewers.backup_contact");
    EXPECT_EQ(finding["detector"], "email");
    EXPECT_EQ(finding["hits"], 60);
}

TEST_F(SeededPlatform, SeedingIsDeterministic) {
    TempDir again;
    ASSERT_EQ(seed_reference_platform(again.path(),
                                      "--tenants 5 --viewers 60 --days 40 --log-size 3M --seed 7 --now " + k_now),
              0);
    EXPECT_EQ(read_text(again / "truth.json"), read_text(s_dir->path() / "truth.json"));
    EXPECT_EQ(PlatformDatabase(again.path()).digest(), PlatformDatabase(s_dir->path()).digest());
    EXPECT_EQ(read_text(again / "logs" / "access.log"), read_text(s_dir->path() / "logs" / "access.log"));
}

TEST_F(SeededPlatform, TheShippedExampleConfigIsTheOneTheSeederWrites) {
    auto shipped =
        nlohmann::json::parse(read_text(std::filesystem::path(GDPRCTL_SOURCE_DIR) / "examples/refstack/gdprctl.json"));
    auto seeded = nlohmann::json::parse(read_text(s_dir->path() / "gdprctl.json"));
    auto& database = seeded["sources"][0];
    if (database["kind"] == "postgres") {  // the one difference --db postgres makes
        EXPECT_TRUE(database.contains("connection"));
        database.erase("connection");
        database.erase("password_file");
        database["kind"] = "sqlite";
        database["path"] = "platform.db";
    }
    EXPECT_EQ(shipped, seeded);
}

TEST_F(SeededPlatform, ScanIsReadOnlyAndJournaled) {
    TempDir copy;
    copy_platform(s_dir->path(), copy.path());
    std::filesystem::remove_all(copy / ".gdprctl");
    PlatformDatabase database(copy.path());
    auto before = database.digest() + read_text(copy / "logs" / "access.log.1");
    scan_json(copy.path());
    EXPECT_EQ(database.digest() + read_text(copy / "logs" / "access.log.1"), before);
    std::string out;
    ASSERT_EQ(tool(GDPRCTL_BINARY, "--config " + (copy / "gdprctl.json").string() + " journal verify", &out), 0);
    EXPECT_NE(out.find("1 entries"), std::string::npos) << out;
}

bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = content.rfind(')');
    return !content.empty() && close != std::string::npos && content[close + 2] != 'Z';
}

TEST(LivePlatform, ScanSeesWhatTheRunningNginxRecordsAndServes) {
    TempDir dir;
    std::string err;
    ASSERT_EQ(seed_reference_platform(dir.path(), "--seed 3 --now " + std::to_string(time(nullptr) / 3600 * 3600)), 0);
    auto truth = nlohmann::json::parse(read_text(dir / "truth.json"));
    std::string ports =
        " --http-port " + std::to_string(free_loopback_port()) + " --rtmp-port " + std::to_string(free_loopback_port());
    ASSERT_EQ(tool(REFSTACK_BINARY, "up --dir " + dir.path().string() + ports, nullptr, &err), 0) << err;
    std::vector<pid_t> pids;
    {
        std::ifstream in(dir / "run" / "pids");
        std::string name;
        pid_t pid;
        while (in >> name >> pid) pids.push_back(pid);
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));  // viewers keep fetching meanwhile
    auto scan = scan_json(dir.path());
    auto viewer = scan_json(dir.path(), "--subject ip:127.0.0.10");
    ASSERT_EQ(tool(REFSTACK_BINARY, "down --dir " + dir.path().string(), nullptr, &err), 0) << err;

    std::uint64_t seeded_access = 0;
    for (const auto& [tenant, entry] : truth["tenants"].items())
        seeded_access += entry["records"].value("access-log", std::uint64_t{0});
    seeded_access += truth["platform"]["records"].value("access-log", std::uint64_t{0});
    EXPECT_GT(sum_of(scan, "access-log"), seeded_access) << "live viewer lines must be in the inventory";
    EXPECT_GT(sum_of(viewer, "access-log"), 0u) << "the viewer at 127.0.0.10 fetched playlists and segments";
    auto records = records_of(scan);
    EXPECT_GT(records["acme"]["hls"], 0u);
    EXPECT_GT(records["acme"]["recordings"], truth["tenants"]["acme"]["records"]["recordings"].get<std::uint64_t>());
    EXPECT_EQ(pids.size(), 4u);
    for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << "process " << pid << " still running after down";
}

}  // namespace
}  // namespace gdprctl::testing
