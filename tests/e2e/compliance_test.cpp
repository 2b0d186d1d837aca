// The register, check and audit end to end with the real binary on the reference platform:
// the shipped register validates clean; breaking the register or the platform makes validate
// and check fail naming exactly what broke; SARIF and JUnit validate against their schemas;
// bad input is exit 2 and changes nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

const std::filesystem::path k_source_dir = GDPRCTL_SOURCE_DIR;

class ComplianceTest : public ::testing::Test, protected ReferencePlatform {
protected:
    void SetUp() override { ASSERT_EQ(import_reference_register(), 0); }

    static std::vector<std::string> policies_of(const nlohmann::json& report) {
        std::vector<std::string> ids;
        for (const auto& finding : report["findings"]) ids.push_back(finding["policy"]);
        return ids;
    }
};

TEST_F(ComplianceTest, TheShippedRegisterValidatesCleanAgainstTheReferencePlatform) {
    auto report = gdprctl_json("register validate --live", 0);
    EXPECT_TRUE(report["findings"].empty()) << report.dump(2);
    EXPECT_EQ(report["policies"].size(), 8u);
    auto checked = gdprctl_json("check --live --now 2026-11-23T15:25:10Z", 0);
    EXPECT_TRUE(checked["findings"].empty()) << checked.dump(2);
    EXPECT_GE(checked["policies"].size(), 15u);
}

TEST_F(ComplianceTest, ExportImportRoundTripIsLossless) {
    std::string exported, again, err;
    ASSERT_EQ(gdprctl("register export --format json", &exported, &err), 0) << err;
    EXPECT_EQ(nlohmann::json::parse(exported),
              nlohmann::json::parse(read_text(k_source_dir / "examples/refstack/register.json")));
    write_text(dir() / "exported.json", exported);
    ASSERT_EQ(gdprctl("register import " + (dir() / "exported.json").string()), 0);
    ASSERT_EQ(gdprctl("register export --format json", &again), 0);
    EXPECT_EQ(again, exported);
}

TEST_F(ComplianceTest, CsvHasOneRowPerActivityWithTheArticle30Columns) {
    std::string csv;
    ASSERT_EQ(gdprctl("register export --format csv", &csv), 0);
    auto header = csv.substr(0, csv.find("\r\n"));
    for (const char* column :
         {"Purposes of the processing", "Legal basis (Art. 6)", "Categories of data subjects",
          "Categories of personal data", "Categories of recipients", "Transfers to third countries",
          "Safeguards for transfers", "Retention period", "Technical and organisational security measures"})
        EXPECT_NE(header.find(column), std::string::npos) << column;
    // Counted by Python's csv module, which knows quoted fields with commas and line breaks.
    write_text(dir() / "register.csv", csv);
    std::string rows;
    ASSERT_EQ(run_command("python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1], newline=\"\"))); "
                          "print(len(r)-1, len(set(map(len, r))))' " +
                              (dir() / "register.csv").string(),
                          &rows),
              0);
    EXPECT_EQ(rows, "9 1\n");
    EXPECT_NE(csv.find("US: standard contractual clauses"), std::string::npos);
}

TEST_F(ComplianceTest, DeletingAnActivityFailsValidateAndCheckNamingTheUncoveredCategory) {
    std::string out;
    ASSERT_EQ(gdprctl("register remove recordings --dry-run"), 0);
    EXPECT_EQ(gdprctl_json("register validate", 0)["findings"].size(), 0u) << "a dry run changed the register";
    ASSERT_EQ(gdprctl("register remove recordings"), 0);
    auto report = gdprctl_json("register validate", 1);
    ASSERT_EQ(report["findings"].size(), 1u) << report.dump(2);
    EXPECT_EQ(report["findings"][0]["policy"], "register.covers-data-map");
    EXPECT_NE(report["findings"][0]["message"].get<std::string>().find("\"recordings\""), std::string::npos);
    EXPECT_EQ(report["findings"][0]["pointer"], "/sources/4");
    auto checked = gdprctl_json("check", 1);
    EXPECT_EQ(policies_of(checked), std::vector<std::string>{"register.covers-data-map"});
}

TEST_F(ComplianceTest, AnUndeclaredColumnOfEmailsFailsTheLiveChecksNamingTheColumn) {
    database().execute(
        "ALTER TABLE viewers ADD COLUMN backup_email TEXT; UPDATE viewers SET backup_email = 'alt' || id || "
        "'@mail.example';");
    EXPECT_EQ(gdprctl_json("register validate", 0)["findings"].size(), 0u) << "without --live the stores are not read";
    for (const std::string command : {"register validate --live", "check --live --now 2026-11-23T15:25:10Z"}) {
        auto report = gdprctl_json(command, 1);
        ASSERT_EQ(report["findings"].size(), 1u) << report.dump(2);
        EXPECT_EQ(report["findings"][0]["where"], "platform-db:viewers.backup_email");
        EXPECT_NE(report["findings"][0]["message"].get<std::string>().find("email"), std::string::npos);
    }
}

TEST_F(ComplianceTest, EachRegisterCheckFindsWhatBrokeIt) {
    auto reg = nlohmann::json::parse(read_text(k_source_dir / "examples/refstack/register.json"));
    auto& activities = reg["activities"];
    activities[1].erase("legal_basis");                                  // register.complete + legal-basis
    activities[6]["transfers"][0].erase("safeguard");                    // transfers-safeguarded
    activities[6]["recipients"] = nlohmann::json::array();               // recipients-listed (+ transfer)
    activities[2]["retention"]["days"] = 30;                             // retention-consistent: policy keeps 90
    activities[8]["categories"].push_back("usage-data");                 // drift: backups hold no logs
    reg["controllers_served"].erase(reg["controllers_served"].begin());  // acme missing (live)
    write_text(dir() / "broken.json", reg.dump(2));
    ASSERT_EQ(gdprctl("register import " + (dir() / "broken.json").string()), 0);
    auto report = gdprctl_json("register validate --live", 1);
    auto ids = policies_of(report);
    std::multiset<std::string> got(ids.begin(), ids.end());
    std::multiset<std::string> expected = {
        "register.complete",          "register.legal-basis",          "register.transfers-safeguarded",
        "register.recipients-listed", "register.retention-consistent", "register.no-drift",
        "register.controllers-listed"};
    EXPECT_EQ(got, expected) << report.dump(2);
    for (const auto& finding : report["findings"]) {
        if (finding["policy"] == "register.controllers-listed") {
            EXPECT_NE(finding["message"].get<std::string>().find("acme"), std::string::npos);
        }
        if (finding["policy"] == "register.retention-consistent") {
            EXPECT_EQ(finding["pointer"], "/activities/2/retention/days");
        }
    }
}

TEST_F(ComplianceTest, BadRegisterFilesAreExit2WithTheJsonPointerAndChangeNothing) {
    std::string before;
    ASSERT_EQ(gdprctl("register export --format json", &before), 0);
    auto base = nlohmann::json::parse(before);
    struct Case {
        std::string name;
        std::function<void(nlohmann::json&)> breaks;
        std::string expected;
    };
    std::vector<Case> cases = {
        {"wrong type", [](nlohmann::json& r) { r["activities"][0]["purposes"] = 5; }, "/activities/0/purposes"},
        {"unknown legal basis", [](nlohmann::json& r) { r["activities"][1]["legal_basis"] = "art6-1-g"; },
         "/activities/1/legal_basis: unknown legal basis"},
        {"duplicate id", [](nlohmann::json& r) { r["activities"][3]["id"] = "viewer-statistics"; },
         "/activities/3/id: duplicate activity id"},
        {"category not a string", [](nlohmann::json& r) { r["activities"][2]["categories"][0] = 7; },
         "/activities/2/categories/0"},
        {"unknown key", [](nlohmann::json& r) { r["activities"][0]["purpose"] = "x"; }, "did you mean \"purposes\""},
    };
    for (const auto& c : cases) {
        auto broken = base;
        c.breaks(broken);
        write_text(dir() / "bad.json", broken.dump(2));
        std::string out, err;
        EXPECT_EQ(gdprctl("register import " + (dir() / "bad.json").string(), &out, &err), 2) << c.name;
        EXPECT_NE(err.find(c.expected), std::string::npos) << c.name << ": " << err;
        std::string after;
        ASSERT_EQ(gdprctl("register export --format json", &after), 0);
        EXPECT_EQ(after, before) << c.name << " changed the register";
    }
    write_text(dir() / "bad.json", "{\"activities\": [\n  {\"id\": \"x\",}\n]}");
    std::string err;
    EXPECT_EQ(gdprctl("register import " + (dir() / "bad.json").string(), nullptr, &err), 2);
    EXPECT_NE(err.find("bad.json:2:"), std::string::npos) << err;
}

TEST_F(ComplianceTest, PolicyFilesThatAreBrokenAreExit2NamingFileAndLine) {
    std::filesystem::create_directories(dir() / "mine");
    write_text(dir() / "mine/broken.json", "[\n  {\"id\": \"a\",\n   \"kind\": \"retention-limit\"\n  ,]\n");
    std::string err;
    EXPECT_EQ(gdprctl("check --policies " + (dir() / "mine").string(), nullptr, &err), 2);
    EXPECT_NE(err.find("broken.json:4:"), std::string::npos) << err;
    write_text(dir() / "mine/broken.json",
               R"([{"id": "a", "kind": "retention-limt", "rationale": "r", "article": "a"}])");
    EXPECT_EQ(gdprctl("check --policies " + (dir() / "mine").string(), nullptr, &err), 2);
    EXPECT_NE(err.find("/0/kind"), std::string::npos) << err;
    EXPECT_NE(err.find("did you mean \"retention-limit\""), std::string::npos) << err;
}

TEST_F(ComplianceTest, PlainRtmpAndUnknownRegionsInTheSettingsAreFindings) {
    auto config = nlohmann::json::parse(read_text(dir() / "gdprctl.json"));
    config["settings"]["endpoints"][0]["url"] = "rtmp://ingest.example.net/live";
    config["settings"]["endpoints"][1]["url"] = "srt://ingest.example.net:9000?streamid=live";
    config["settings"]["storage_regions"].push_back("us-east-1");
    config["settings"]["recording_default"] = "on";
    write_text(dir() / "gdprctl.json", config.dump(2));
    auto report = gdprctl_json("check", 1);
    auto ids = policies_of(report);
    std::multiset<std::string> got(ids.begin(), ids.end());
    EXPECT_EQ(got, (std::multiset<std::string>{"security.encrypted-transport", "security.encrypted-transport",
                                               "transfers.storage-region", "design.recording-off-by-default"}))
        << report.dump(2);
    EXPECT_EQ(report["findings"][0]["pointer"], "/settings/endpoints/0/url");
}

TEST_F(ComplianceTest, AnEndpointInTheStoresUsingPlainRtmpIsALiveFindingThatHidesTheStreamKey) {
    database().execute("UPDATE endpoints SET url = 'rtmp://ingest.example.net/acme/main?key=SECRETKEY' WHERE id = 1");
    EXPECT_EQ(gdprctl_json("check", 0)["findings"].size(), 0u);
    std::string out;
    EXPECT_EQ(gdprctl("check --live --now 2026-11-23T15:25:10Z", &out), 1);
    EXPECT_NE(out.find("platform-db:endpoints (tenant acme) has an endpoint using rtmp"), std::string::npos) << out;
    EXPECT_EQ(out.find("SECRETKEY"), std::string::npos);
}

TEST_F(ComplianceTest, OldLogsPastTheLimitAreLiveFindingsUntilRetentionRuns) {
    const std::string later = " --now 2027-02-15T00:00:00Z";
    auto report = gdprctl_json("check --live" + later, 1);
    for (const auto& id : policies_of(report)) EXPECT_EQ(id, "limits.usage-logs-90d");
    EXPECT_FALSE(report["findings"].empty());
    ASSERT_EQ(gdprctl("retention apply --force" + later), 0);
    EXPECT_TRUE(gdprctl_json("check --live" + later, 0)["findings"].empty());
}

TEST_F(ComplianceTest, SarifAndJunitValidateAgainstTheirSchemas) {
    // With findings, so that results and failures are in the documents being validated.
    ASSERT_EQ(gdprctl("register remove recordings"), 0);
    auto sarif = dir() / "out.sarif";
    auto junit = dir() / "out.xml";
    EXPECT_EQ(gdprctl("check --format sarif --out " + sarif.string()), 1);
    EXPECT_EQ(gdprctl("check --format junit --out " + junit.string()), 1);
    std::string out;
    auto schemas = k_source_dir / "tests/data/schemas";
    EXPECT_EQ(run_command(
                  "/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), "
                  "json.load(open(sys.argv[2])))' " +
                      sarif.string() + " " + (schemas / "sarif-schema-2.1.0.json").string(),
                  &out, &out),
              0)
        << out;
    EXPECT_EQ(
        run_command("xmllint --noout --schema " + (schemas / "JUnit.xsd").string() + " " + junit.string(), &out, &out),
        0)
        << out;
    auto document = nlohmann::json::parse(read_text(sarif));
    const auto& result = document["runs"][0]["results"][0];
    EXPECT_EQ(result["ruleId"], "register.covers-data-map");
    EXPECT_EQ(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "gdprctl.json");
    EXPECT_GT(result["locations"][0]["physicalLocation"]["region"]["startLine"].get<int>(), 1);
    auto xml = read_text(junit);
    EXPECT_NE(xml.find("<testcase name=\"register.covers-data-map\""), std::string::npos);
    EXPECT_NE(xml.find("failures=\"1\""), std::string::npos) << xml;

    // The validators reject what is wrong (they are not vacuous here).
    write_text(dir() / "bad.sarif", R"({"version": "2.1.0", "runs": [{"results": []}]})");
    EXPECT_NE(run_command(
                  "/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), "
                  "json.load(open(sys.argv[2])))' " +
                  (dir() / "bad.sarif").string() + " " + (schemas / "sarif-schema-2.1.0.json").string()),
              0);
    write_text(dir() / "bad.xml", "<testsuite name=\"x\" tests=\"1\"/>");
    EXPECT_NE(run_command("xmllint --noout --schema " + (schemas / "JUnit.xsd").string() + " " +
                          (dir() / "bad.xml").string()),
              0);
}

TEST_F(ComplianceTest, ARegisterFileNamedByTheConfigIsWhatCiChecks) {
    auto config = nlohmann::json::parse(read_text(dir() / "gdprctl.json"));
    config["register"] = "register.json";
    write_text(dir() / "gdprctl.json", config.dump(2));
    auto reg = nlohmann::json::parse(read_text(k_source_dir / "examples/refstack/register.json"));
    reg["activities"].erase(reg["activities"].begin() + 2);  // connection-logs: usage-data uncovered
    write_text(dir() / "register.json", reg.dump(2));
    auto report = gdprctl_json("check", 1);
    ASSERT_EQ(policies_of(report), std::vector<std::string>{"register.covers-data-map"});
    EXPECT_NE(report["findings"][0]["message"].get<std::string>().find("usage-data"), std::string::npos);
    std::string err;
    EXPECT_EQ(gdprctl("register remove backups", nullptr, &err), 2);
    EXPECT_NE(err.find("keeps the register in"), std::string::npos) << err;
}

// The "gdprctl check" lines of examples/ci, run as written in a repository that holds only the
// config and the register (no store): clean, then failing once the register loses an activity.
TEST_F(ComplianceTest, TheCiExamplesCheckARepositoryWithoutStores) {
    auto repo = dir() / "platform-repo";
    std::filesystem::create_directories(repo);
    auto config = nlohmann::json::parse(read_text(dir() / "gdprctl.json"));
    config["register"] = "register.json";
    write_text(repo / "gdprctl.json", config.dump(2));
    auto reg = nlohmann::json::parse(read_text(k_source_dir / "examples/refstack/register.json"));
    write_text(repo / "register.json", reg.dump(2));
    std::vector<std::string> commands;
    for (const char* file : {"github-actions.yml", "gitlab-ci.yml"}) {
        std::istringstream lines(read_text(k_source_dir / "examples/ci" / file));
        for (std::string line; std::getline(lines, line);) {
            auto at = line.find("gdprctl check");
            if (at == std::string::npos || line.find('#') < at) continue;
            auto command = line.substr(at + std::string("gdprctl ").size());
            commands.push_back(command.substr(0, command.find(" ||")));
        }
    }
    ASSERT_EQ(commands.size(), 3u);
    auto run_all = [&](int expected) {
        for (const auto& command : commands) {
            std::string out, err;
            EXPECT_EQ(run_command("cd " + repo.string() + " && " GDPRCTL_BINARY " " + command, &out, &err), expected)
                << command << "\n"
                << out << err;
        }
    };
    run_all(0);
    EXPECT_TRUE(std::filesystem::exists(repo / "gdprctl.sarif"));
    EXPECT_TRUE(std::filesystem::exists(repo / "gdprctl-junit.xml"));
    reg["activities"].erase(reg["activities"].begin() + 5);  // recordings
    write_text(repo / "register.json", reg.dump(2));
    run_all(1);
    auto sarif = nlohmann::json::parse(read_text(repo / "gdprctl.sarif"));
    EXPECT_EQ(sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              "gdprctl.json");
}

}  // namespace
}  // namespace gdprctl::testing
