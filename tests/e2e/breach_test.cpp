// Personal-data breaches on the reference platform, through the real binary: a breach reaching
// two tenants whose notification counts equal an independent count of their records (the
// seeder's truth, and the access logs read from outside by tests/data/breach/count_access_log.py),
// a breach past 72 hours flagged by `check` until the authority is told, and the rules a
// notification follows.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

const std::filesystem::path k_source_dir = GDPRCTL_SOURCE_DIR;

class BreachTest : public ::testing::Test, protected ReferencePlatform {
protected:
    void SetUp() override { ASSERT_EQ(import_reference_register(), 0); }

    // Per tenant, the access-log lines and their distinct client addresses, counted by a script
    // that shares no code with gdprctl.
    nlohmann::json access_log_counts() const {
        std::string out;
        EXPECT_EQ(run_command("python3 " + (k_source_dir / "tests/data/breach/count_access_log.py").string() + " " +
                                  dir().string(),
                              &out),
                  0);
        return nlohmann::json::parse(out);
    }

    std::string open_breach(const std::string& aware_at, const std::string& tenants) const {
        return gdprctl_json("breach open --aware-at " + aware_at +
                                " --summary 'An access-log archive was world-readable on the edge server'" + tenants +
                                " --now " + aware_at,
                            0)["id"];
    }

    static std::vector<nlohmann::json> findings_of(const nlohmann::json& check, const std::string& where) {
        std::vector<nlohmann::json> found;
        for (const auto& finding : check["findings"])
            if (finding["policy"] == "breaches.notified-in-time" &&
                finding["where"].get<std::string>().rfind(where, 0) == 0)
                found.push_back(finding);
        return found;
    }
};

TEST_F(BreachTest, ABreachOfTwoTenantsIsCountedAsTheStoresHoldTheirRecords) {
    auto id = open_breach("2026-11-23T08:00:00Z", " --tenant acme --tenant bluebird");
    auto logs = access_log_counts();
    auto assessed =
        gdprctl_json("breach assess " + id +
                         " --source access-log --consequences 'Viewing habits and addresses exposed' --measures "
                         "'Permissions fixed, archive rotated away' --risk risk --now 2026-11-23T12:00:00Z",
                     0);
    const auto& affected = assessed["assessment"]["affected"];
    ASSERT_EQ(affected.size(), 2u);
    std::uint64_t records = 0;
    for (const auto& tenant : affected) {
        const auto& counted = logs[tenant["tenant"].get<std::string>()];
        EXPECT_EQ(tenant["records_per_category"]["usage-data"], counted["lines"]) << tenant.dump();
        EXPECT_EQ(tenant["records_per_category"].size(), 1u) << tenant.dump();
        EXPECT_EQ(tenant["identifiers_per_kind"]["ip"], counted["addresses"]) << tenant.dump();
        EXPECT_EQ(tenant["people"], counted["addresses"]);
        records += counted["lines"].get<std::uint64_t>();
    }

    // The authority's notification carries both tenants' numbers, the register's contact point,
    // and what the assessment said; the file is private.
    auto authority = dir() / "authority.json";
    ASSERT_EQ(
        gdprctl("breach notify " + id + " --to authority -o " + authority.string() + " --now 2026-11-23T14:00:00Z -q"),
        0);
    struct stat info {};
    ASSERT_EQ(::stat(authority.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    auto document = nlohmann::json::parse(read_text(authority));
    EXPECT_EQ(document["nature"]["approximate_records"], records);
    EXPECT_EQ(document["nature"]["approximate_subjects"],
              logs["acme"]["addresses"].get<std::uint64_t>() + logs["bluebird"]["addresses"].get<std::uint64_t>());
    EXPECT_EQ(document["contact"]["dpo"], "dpo@refstack.example");
    EXPECT_EQ(document["likely_consequences"], "Viewing habits and addresses exposed");
    EXPECT_EQ(document["hours_since_aware"], 6);
    // A notification is never written over.
    EXPECT_EQ(gdprctl("breach notify " + id + " --to authority -o " + authority.string()), 2);

    // Each controller is told of its own part only.
    auto acme = dir() / "acme.md";
    ASSERT_EQ(gdprctl("breach notify " + id + " --to controller --tenant acme -o " + acme.string() +
                      " --now 2026-11-23T14:00:00Z -q"),
              0);
    auto text = read_text(acme);
    EXPECT_NE(text.find(std::to_string(logs["acme"]["lines"].get<std::uint64_t>()) + " records"), std::string::npos)
        << text;
    EXPECT_EQ(text.find("bluebird"), std::string::npos) << text;

    // Assessed over every source, the counts per category are the seeder's, tenant by tenant.
    auto everywhere =
        gdprctl_json("breach assess " + id +
                         " --consequences 'Wider than first thought' --measures 'All archives re-permissioned' "
                         "--risk high --now 2026-11-23T16:00:00Z",
                     0);
    for (const auto& tenant : everywhere["assessment"]["affected"]) {
        const auto& seeded = truth["tenants"][tenant["tenant"].get<std::string>()]["by_category"];
        EXPECT_EQ(tenant["records_per_category"], seeded) << tenant["tenant"];
    }
}

TEST_F(BreachTest, ABreachPast72HoursIsFlaggedUntilTheAuthorityIsToldWithTheReasonsForTheDelay) {
    auto id = open_breach("2026-11-19T10:00:00Z", " --tenant acme");
    const std::string later = " --now 2026-11-23T15:25:10Z";
    ASSERT_EQ(gdprctl("breach assess " + id + " --source access-log --consequences c --measures m --risk risk" + later),
              0);
    auto check = gdprctl_json("check" + later, 1);
    auto flagged = findings_of(check, "breach " + id);
    ASSERT_EQ(flagged.size(), 2u) << check.dump(2);
    EXPECT_EQ(flagged[0]["severity"], "error");
    EXPECT_NE(flagged[0]["message"].get<std::string>().find("past the 72-hour deadline"), std::string::npos);
    EXPECT_EQ(flagged[1]["where"], "breach " + id + " tenant acme");

    std::string out, err;
    auto notice = dir() / "late.md";
    EXPECT_EQ(gdprctl("breach notify " + id + " --to authority -o " + notice.string() + later, &out, &err), 2);
    EXPECT_NE(err.find("Art. 33(1)"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(notice));
    ASSERT_EQ(gdprctl("breach notify " + id + " --to authority -o " + notice.string() +
                      " --late-reason 'The edge server logs were only read on Monday'" + later + " -q"),
              0);
    EXPECT_NE(read_text(notice).find("Reasons for the delay"), std::string::npos);
    check = gdprctl_json("check" + later, 1);
    flagged = findings_of(check, "breach " + id);
    ASSERT_EQ(flagged.size(), 1u) << check.dump(2);
    EXPECT_EQ(flagged[0]["where"], "breach " + id + " tenant acme");
    ASSERT_EQ(gdprctl("breach notify " + id + " --to controller --tenant acme -o " + (dir() / "acme.md").string() +
                      later + " -q"),
              0);
    EXPECT_EQ(gdprctl("check" + later), 0);
    auto listed = gdprctl_json("breach list" + later, 0);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["status"], "notified");
    EXPECT_EQ(listed[0]["notifications"].size(), 2u);
}

TEST_F(BreachTest, WithinTheClockItWarnsAndAnUnlikelyRiskNeedsNoNotificationButStaysInTheRegister) {
    auto id = open_breach("2026-11-23T08:00:00Z", "");
    const std::string soon = " --now 2026-11-23T15:25:10Z";
    auto check = gdprctl_json("check" + soon, 0);
    auto flagged = findings_of(check, "breach " + id);
    ASSERT_EQ(flagged.size(), 1u) << check.dump(2);
    EXPECT_EQ(flagged[0]["severity"], "warning");
    EXPECT_NE(flagged[0]["message"].get<std::string>().find("2026-11-26T08:00:00Z"), std::string::npos);
    ASSERT_EQ(gdprctl("breach assess " + id +
                      " --category configuration --consequences 'none: the file held no personal data' --measures "
                      "'file removed' --risk unlikely" +
                      soon),
              0);
    EXPECT_TRUE(findings_of(gdprctl_json("check --now 2026-12-01T00:00:00Z", 0), "breach").empty());
    auto listed = gdprctl_json("breach list" + soon, 0);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["status"], "recorded");
    EXPECT_EQ(listed[0]["assessment"]["risk"], "unlikely");
}

TEST_F(BreachTest, BadInputSaysWhatIsWrong) {
    std::string out, err;
    EXPECT_EQ(gdprctl("breach open --aware-at 2026-11-20T00:00:00Z --summary x --tenant acmee", &out, &err), 2);
    EXPECT_NE(err.find("acmee"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("breach open --aware-at tomorrow --summary x", &out, &err), 2);
    auto id = open_breach("2026-11-23T08:00:00Z", " --tenant acme");
    EXPECT_EQ(gdprctl("breach notify " + id + " --to authority -o " + (dir() / "n.md").string(), &out, &err), 2);
    EXPECT_NE(err.find("not assessed"), std::string::npos) << err;
    EXPECT_EQ(
        gdprctl("breach assess " + id + " --source nowhere --consequences c --measures m --risk risk", &out, &err), 2);
    EXPECT_NE(err.find("nowhere"), std::string::npos) << err;
    ASSERT_EQ(gdprctl("breach assess " + id + " --source events --consequences c --measures m --risk risk"), 0);
    EXPECT_EQ(gdprctl("breach notify " + id + " --to controller --tenant bluebird -o " + (dir() / "n.md").string(),
                      &out, &err),
              2);
    EXPECT_NE(err.find("acme"), std::string::npos) << err;
    EXPECT_EQ(gdprctl_json("breach list", 0).size(), 1u);
}

}  // namespace
}  // namespace gdprctl::testing
