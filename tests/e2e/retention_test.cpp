// Retention end to end, with the real binary on the reference platform: exact cut-offs checked
// by an independent count, kill -9 at any point, the live nginx log, and the safety guards.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "core/util/time.hpp"
#include "tests/support/live_platform.hpp"
#include "tests/support/reference_platform.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

constexpr util::UnixTime k_now = 1795447510;  // 2026-11-23T15:25:10Z
constexpr util::UnixTime k_day = 86400;

int gdprctl(const std::filesystem::path& dir, const std::string& args, std::string* out = nullptr,
            std::string* err = nullptr) {
    return run_command(std::string(GDPRCTL_BINARY) + " --config " + (dir / "gdprctl.json").string() + " " + args, out,
                       err);
}

void seed(const std::filesystem::path& dir, const std::string& extra = "", int days = 180) {
    std::string err;
    ASSERT_EQ(
        seed_reference_platform(
            dir, "--days " + std::to_string(days) + " --seed 11 --now " + std::to_string(k_now) + " " + extra, &err),
        0)
        << err;
}

std::string sha256_of(const std::filesystem::path& file) {
    std::string out;
    run_command("sha256sum " + file.string(), &out);
    return out.substr(0, 64);
}

struct AgeCount {
    std::uint64_t older = 0, younger = 0, undated = 0;
};

AgeCount count_access_by_age(const std::filesystem::path& logs, util::UnixTime cutoff) {
    AgeCount count;
    for (const auto& line : access_lines(logs)) {
        auto open = line.find('[');
        auto time = open == std::string::npos ? std::nullopt : util::parse_nginx_time(line.substr(open + 1, 26));
        if (!time)
            ++count.undated;
        else if (*time < cutoff)
            ++count.older;
        else
            ++count.younger;
    }
    return count;
}

std::string sql(const std::filesystem::path& dir, const std::string& query) {
    return PlatformDatabase(dir).value(query);
}

// An ISO 8601 literal both databases compare with the seeded times (text in SQLite, timestamptz in PostgreSQL).
std::string iso(util::UnixTime t) { return "'" + util::format_iso8601(t) + "'"; }

TEST(Retention, DeletesAndAnonymisesExactlyWhatExpiredAndASecondRunChangesNothing) {
    TempDir dir;
    seed(dir.path());
    util::UnixTime logs_cutoff = k_now - 90 * k_day, ip_cutoff = k_now - 30 * k_day;
    auto before = count_access_by_age(dir / "logs", logs_cutoff);
    PlatformDatabase database(dir.path());
    auto chat_young = sql(dir.path(), "SELECT count(*) FROM chat_messages WHERE sent_at >= " + iso(logs_cutoff));
    auto young_sessions = "SELECT id, ip FROM sessions WHERE started_at >= " + std::to_string(ip_cutoff * 1000);
    auto young_ips = database.rows_json(young_sessions);
    ASSERT_GT(before.older, 1000u);
    ASSERT_GT(before.younger, 1000u);

    std::string out, err;
    ASSERT_EQ(gdprctl(dir.path(), "retention apply --force --now 2026-11-23T15:25:10Z", &out, &err), 0) << err;
    EXPECT_NE(out.find("records changed"), std::string::npos) << out;

    auto after = count_access_by_age(dir / "logs", logs_cutoff);
    EXPECT_EQ(after.older, 0u);
    EXPECT_EQ(after.younger, before.younger);
    EXPECT_EQ(after.undated, before.undated) << "malformed lines have no readable age and are kept";
    EXPECT_EQ(sql(dir.path(), "SELECT count(*) FROM chat_messages WHERE sent_at < " + iso(logs_cutoff)), "0");
    EXPECT_EQ(sql(dir.path(), "SELECT count(*) FROM chat_messages WHERE sent_at >= " + iso(logs_cutoff)), chat_young);
    // An inet column compares as text by its host part.
    std::string ip = database.postgres() ? "host(ip)" : "ip";
    EXPECT_EQ(sql(dir.path(), "SELECT count(*) FROM sessions WHERE started_at < " + std::to_string(ip_cutoff * 1000) +
                                  " AND " + ip + " NOT LIKE '%.0' AND " + ip + " NOT LIKE '%::'"),
              "0");
    EXPECT_EQ(database.rows_json(young_sessions), young_ips);

    ASSERT_EQ(gdprctl(dir.path(), "retention apply --force --now 2026-11-23T15:25:10Z", &out), 0);
    EXPECT_NE(out.find("Nothing to purge"), std::string::npos) << out;
    ASSERT_EQ(gdprctl(dir.path(), "journal verify", &out), 0) << out;
}

TEST(Retention, ARunKilledAtAnyPointIsFinishedByTheNextWithTheSameResult) {
    TempDir one_shot, killed;
    seed(one_shot.path(), "--log-size 24M");
    seed(killed.path(), "--log-size 24M");
    std::string out;
    ASSERT_EQ(gdprctl(one_shot.path(), "--format json retention apply --force --now " + std::to_string(k_now), &out),
              0);
    auto expected = nlohmann::json::parse(out);

    std::string now = std::to_string(k_now);
    run_and_kill_after(
        {GDPRCTL_BINARY, "--config", (killed / "gdprctl.json").string(), "retention", "apply", "--force", "--now", now},
        {10, 40, 80, 160, 320});
    ASSERT_EQ(gdprctl(killed.path(), "--format json retention apply --force --now " + now, &out), 0);
    auto finished = nlohmann::json::parse(out);

    EXPECT_EQ(scanned_records(killed.path()), scanned_records(one_shot.path()));
    EXPECT_EQ(count_access_by_age(killed / "logs", k_now - 90 * k_day).younger,
              count_access_by_age(one_shot / "logs", k_now - 90 * k_day).younger);
    // The run that finished reports the whole run's work, counted once, unless a killed one finished it.
    if (finished["records"].get<std::uint64_t>() != 0) {
        EXPECT_EQ(finished["records"], expected["records"]);
    }
    ASSERT_EQ(gdprctl(killed.path(), "journal verify", &out), 0) << out;
}

TEST(Retention, GuardsStopBeforeAnythingChanges) {
    TempDir dir;
    seed(dir.path());
    auto digest = [&] { return PlatformDatabase(dir.path()).digest() + sha256_of(dir / "logs" / "access.log.100.gz"); };
    auto before = digest();
    std::string out, err;

    EXPECT_EQ(gdprctl(dir.path(), "retention apply --now " + std::to_string(k_now), nullptr, &err), 1);
    EXPECT_NE(err.find("--max-fraction"), std::string::npos) << err;
    EXPECT_EQ(gdprctl(dir.path(), "retention apply --force --dry-run --now " + std::to_string(k_now), &out, &err), 0)
        << err;
    EXPECT_NE(out.find("Dry run"), std::string::npos);
    // --force would override the clock checks: they run without it, before the size guard.
    EXPECT_EQ(gdprctl(dir.path(), "retention apply --now " + std::to_string(k_now - 10 * k_day), nullptr, &err), 3);
    EXPECT_NE(err.find("more than a day after the clock"), std::string::npos) << err;
    {
        std::filesystem::create_directories(dir / ".gdprctl");
        int fd = ::open((dir / ".gdprctl" / "retention.lock").c_str(), O_RDWR | O_CREAT, 0600);
        ASSERT_EQ(::flock(fd, LOCK_EX), 0);
        EXPECT_EQ(gdprctl(dir.path(), "retention apply --force --now " + std::to_string(k_now), nullptr, &err), 3);
        EXPECT_NE(err.find("another retention or erasure run"), std::string::npos) << err;
        ::close(fd);
    }
    EXPECT_EQ(digest(), before);

    ASSERT_EQ(gdprctl(dir.path(), "retention apply --force --now " + std::to_string(k_now), nullptr, &err), 0) << err;
    EXPECT_EQ(gdprctl(dir.path(), "retention apply --now " + std::to_string(k_now - 3600), nullptr, &err), 3);
    EXPECT_NE(err.find("earlier than the last retention run"), std::string::npos) << err;
}

TEST(Retention, AReviewedPlanIsAppliedExactlyOrRefusedWhenTheStoresMoved) {
    TempDir dir;
    seed(dir.path());
    auto plan = (dir / "plan.json").string();
    std::string out, err;
    ASSERT_EQ(gdprctl(dir.path(), "retention plan --now " + std::to_string(k_now) + " --out " + plan, &out, &err), 0)
        << err;
    EXPECT_NE(out.find("retention.usage-logs-90d"), std::string::npos) << out;

    sql(dir.path(), "DELETE FROM chat_messages WHERE id = (SELECT min(id) FROM chat_messages WHERE sent_at < " +
                        iso(k_now - 90 * k_day) + ")");
    EXPECT_EQ(gdprctl(dir.path(), "retention apply --force --plan " + plan, nullptr, &err), 1);
    EXPECT_NE(err.find("no longer matches"), std::string::npos) << err;

    ASSERT_EQ(gdprctl(dir.path(), "retention plan --now " + std::to_string(k_now) + " --out " + plan), 0);
    std::uint64_t planned_records = 0;
    auto reviewed = nlohmann::json::parse(read_text(plan));
    for (const auto& rule : reviewed["rules"])
        for (const auto& item : rule["items"]) planned_records += item["records"].get<std::uint64_t>();
    ASSERT_EQ(gdprctl(dir.path(), "--format json retention apply --force --plan " + plan, &out, &err), 0) << err;
    EXPECT_EQ(nlohmann::json::parse(out)["records"].get<std::uint64_t>(), planned_records);
    EXPECT_EQ(count_access_by_age(dir / "logs", k_now - 90 * k_day).older, 0u);
}

// One GET from 127.0.0.77 carrying a probe number; true when nginx answered 200.

TEST(Retention, PurgingTheLiveNginxLogLosesNoLineWrittenDuringThePurge) {
    TempDir dir;
    util::UnixTime now = util::now();
    ASSERT_EQ(seed_reference_platform(dir.path(), "--days 100 --seed 5 --now " + std::to_string(now)), 0);
    std::string out, err;
    LivePlatform live(dir.path());
    Prober prober(live.http_port());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // 120 days ahead: every line nginx wrote so far has expired, but none written during the purge may go.
    int rc = gdprctl(dir.path(), "retention apply --force --now " + std::to_string(now + 120 * k_day), &out, &err);
    int after_purge = prober.sent();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto answered = prober.stop();
    live.down();
    ASSERT_EQ(rc, 0) << err;

    auto logged = logged_probes(dir / "logs");
    ASSERT_FALSE(logged.empty());
    ASSERT_GT(answered.size(), 100u);
    // Lines the plan covered are gone; from the first line it did not cover, every answered probe is there.
    auto purged = purged_probes(answered, logged);
    EXPECT_TRUE(purged.missing.empty()) << "probe " << purged.missing.front()
                                        << " was answered by nginx but is not in its log";
    EXPECT_LE(purged.first_kept, after_purge) << "lines written during the purge must survive it";
    EXPECT_GT(purged.first_kept, 1) << "lines written before the purge started had expired and must be gone";
    EXPECT_EQ(logged.back(), answered.back());
}

TEST(Schedule, PrintsAndInstallsATimerThatRunsRetention) {
    TempDir dir;
    seed(dir.path(), "", 2);
    std::string out;
    ASSERT_EQ(gdprctl(dir.path(), "schedule --every daily --at 04:30 --print", &out), 0);
    EXPECT_NE(out.find("OnCalendar=*-*-* 04:30:00"), std::string::npos) << out;
    EXPECT_NE(out.find("retention apply --wait"), std::string::npos) << out;
    EXPECT_NE(out.find("30 4 * * * "), std::string::npos) << out;
    ASSERT_EQ(gdprctl(dir.path(), "schedule --every hourly --at 00:05 --install --unit-dir " + (dir / "units").string(),
                      &out),
              0);
    EXPECT_NE(read_text(dir / "units" / "gdprctl-retention.timer").find("OnCalendar=*-*-* *:05:00"), std::string::npos);
    EXPECT_NE(read_text(dir / "units" / "gdprctl-retention.service").find((dir / "gdprctl.json").string()),
              std::string::npos);
    EXPECT_EQ(gdprctl(dir.path(), "schedule --at 25:00 --print"), 2);
}

}  // namespace
}  // namespace gdprctl::testing
