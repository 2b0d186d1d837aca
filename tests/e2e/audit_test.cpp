// The audit report rendered by a real browser: headless Chromium (Debian's chromium) loads the
// page with no console message at all (no script error, nothing blocked by the page's
// Content-Security-Policy, hence no outside call), the charts are in the DOM, and every number
// the inventory table shows is the inventory's. A tenant's report never names another tenant.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/live_platform.hpp"
#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

const std::filesystem::path k_source_dir = GDPRCTL_SOURCE_DIR;
const std::string k_at = " --now 2026-11-23T15:25:10Z";

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
}

class AuditTest : public ::testing::Test, protected ReferencePlatform {
protected:
    void SetUp() override {
        ASSERT_EQ(gdprctl("register import " + (k_source_dir / "examples/refstack/register.json").string()), 0);
    }

    // (dataset, tenant) -> records, from 'gdprctl scan'.
    std::map<std::pair<std::string, std::string>, std::uint64_t> inventory() {
        std::string out;
        EXPECT_EQ(gdprctl("--format json scan", &out), 0);
        std::map<std::pair<std::string, std::string>, std::uint64_t> rows;
        auto scan = nlohmann::json::parse(out);
        for (const auto& source : scan["sources"])
            for (const auto& row : source["inventory"])
                if (row["records"].get<std::uint64_t>() > 0)
                    rows[{row["dataset"], row["tenant"]}] = row["records"].get<std::uint64_t>();
        return rows;
    }

    // The inventory table as the browser's DOM holds it; the visible cell must equal the data attribute.
    static std::map<std::pair<std::string, std::string>, std::uint64_t> table_rows(const std::string& dom) {
        static const std::regex k_row(
            R"re(<tr data-category="([^"]*)" data-tenant="([^"]*)" data-dataset="([^"]*)" data-records="(\d+)"><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td><td class="num">(\d+)</td>)re");
        std::map<std::pair<std::string, std::string>, std::uint64_t> rows;
        for (std::sregex_iterator it(dom.begin(), dom.end(), k_row), end; it != end; ++it) {
            EXPECT_EQ((*it)[4].str(), (*it)[6].str()) << "shown number differs from the data for " << (*it)[3];
            EXPECT_EQ((*it)[3].str(), (*it)[5].str());
            rows[{(*it)[3].str(), (*it)[2].str()}] = std::stoull((*it)[4].str());
        }
        return rows;
    }
};

TEST_F(AuditTest, ChromiumLoadsTheReportWithoutConsoleMessagesAndItsNumbersAreTheInventorys) {
    auto page = dir() / "report.html";
    std::string out, err;
    ASSERT_EQ(gdprctl("audit --out " + page.string() + k_at, &out, &err), 0) << err;
    EXPECT_EQ(std::filesystem::status(page).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    auto run = render_in_chromium(page, dir() / "profile");
    ASSERT_EQ(run.exit, 0) << "chromium failed";
    EXPECT_TRUE(run.console.empty()) << run.console.front();
    ASSERT_NE(run.dom.find("<section id=\"summary\">"), std::string::npos) << run.dom.substr(0, 500);

    auto expected = inventory();
    auto shown = table_rows(run.dom);
    EXPECT_EQ(shown, expected);
    std::uint64_t total = 0;
    std::set<std::string> categories;
    for (const auto& [key, records] : expected) total += records;
    EXPECT_NE(run.dom.find("<div class=\"tile\" data-summary=\"records\"><b>" + std::to_string(total) + "</b>"),
              std::string::npos);
    for (const auto& [tenant, facts] : truth["tenants"].items())
        for (const auto& [dataset, records] : facts["records"].items())
            EXPECT_EQ(shown[std::make_pair(dataset, tenant)], records.get<std::uint64_t>()) << tenant << " " << dataset;

    // The charts: one bar per category, one age histogram per category, limit lines where a rule deletes.
    EXPECT_EQ(count_of(run.dom, "id=\"chart-inventory\""), 1u);
    EXPECT_EQ(count_of(run.dom, "<rect class=\"bar\" data-category="), 7u);
    EXPECT_EQ(count_of(run.dom, "<svg class=\"chart histogram\""), 7u);
    EXPECT_EQ(count_of(run.dom, "<line class=\"limit\" data-limit-days=\"90\""), 2u);  // usage-data, chat
    EXPECT_EQ(count_of(run.dom, "<table class=\"activity\""), 9u);
    for (const char* section : {"findings", "inventory", "retention", "backups", "erasure", "journal", "register"})
        EXPECT_NE(run.dom.find(std::string("<section id=\"") + section + "\">"), std::string::npos) << section;
}

TEST_F(AuditTest, TheConsoleCheckCatchesABlockedFetchAndAForeignScript) {
    auto page = dir() / "report.html";
    ASSERT_EQ(gdprctl("audit --out " + page.string() + k_at), 0);
    auto html = read_text(page);
    auto body_end = html.rfind("</body>");
    auto fetching = dir() / "fetching.html";
    write_text(fetching, html.substr(0, body_end) + "<img src=\"http://127.0.0.1:9/x.png\"></body></html>");
    EXPECT_FALSE(render_in_chromium(fetching, dir() / "profile").console.empty())
        << "a fetch the policy forbids went unnoticed";
    // A script the page's policy does not list is refused, and the refusal is a console message.
    auto scripted = dir() / "scripted.html";
    write_text(scripted, html.substr(0, body_end) + "<script>nosuchfunction();</script></body></html>");
    EXPECT_FALSE(render_in_chromium(scripted, dir() / "profile").console.empty()) << "an extra script went unnoticed";
}

TEST_F(AuditTest, ATenantsReportShowsOnlyThatTenant) {
    auto page = dir() / "acme.html";
    ASSERT_EQ(gdprctl("audit --tenant acme --out " + page.string() + k_at), 0);
    auto html = read_text(page);
    for (const auto& [tenant, facts] : truth["tenants"].items()) {
        if (tenant == "acme") continue;
        EXPECT_EQ(html.find(tenant), std::string::npos) << tenant << " appears in acme's report";
    }
    for (const char* name : {"Bluebird", "Müller", "Dolomiti"}) EXPECT_EQ(html.find(name), std::string::npos) << name;
    auto run = render_in_chromium(page, dir() / "profile");
    EXPECT_TRUE(run.console.empty());
    auto shown = table_rows(run.dom);
    ASSERT_FALSE(shown.empty());
    for (const auto& [key, records] : shown) EXPECT_EQ(key.second, "acme") << key.first;
    for (const auto& [dataset, records] : truth["tenants"]["acme"]["records"].items())
        EXPECT_EQ(shown[std::make_pair(dataset, std::string("acme"))], records.get<std::uint64_t>()) << dataset;
}

// The requests section's figures are the requests' own clocks; the breach register shows each
// breach with the people and records its assessment counted; a tenant's report shows only its part.
TEST_F(AuditTest, ChromiumShowsTheRequestsAndTheBreachRegisterWithTheirNumbers) {
    ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
    auto open_request = [&](const std::string& kind, const std::string& received, const std::string& tenant) {
        std::string out;
        EXPECT_EQ(gdprctl("--format json request open --kind " + kind + " --subject email:someone@example.org" +
                              tenant + " --received " + received + " --now " + received,
                          &out),
                  0);
        return nlohmann::json::parse(out)["id"].get<std::string>();
    };
    // Answered in 2 and in 6 days, one overdue, one refused after 10 days.
    auto two = open_request("access", "2026-11-01T00:00:00Z", " --tenant acme");
    auto six = open_request("portability", "2026-11-01T00:00:00Z", " --tenant bluebird");
    auto overdue = open_request("erasure", "2026-10-01T00:00:00Z", " --tenant acme");
    auto refused = open_request("rectification", "2026-11-05T00:00:00Z", "");
    for (const auto& id : {two, six}) {
        ASSERT_EQ(gdprctl("request verify " + id + " --method login --by desk -q"), 0);
        ASSERT_EQ(gdprctl("export --request " + id + " --out " + (dir() / (id + ".zip")).string() + " -q"), 0);
    }
    ASSERT_EQ(gdprctl("request close " + two + " --now 2026-11-03T00:00:00Z -q"), 0);
    ASSERT_EQ(gdprctl("request close " + six + " --now 2026-11-07T00:00:00Z -q"), 0);
    ASSERT_EQ(gdprctl("request close " + refused + " --refused 'the data is accurate' --now 2026-11-15T00:00:00Z -q"),
              0);

    std::string out;
    ASSERT_EQ(gdprctl("--format json breach open --aware-at 2026-11-19T00:00:00Z --summary 'Edge log archive of acme "
                      "and bluebird exposed' --tenant acme --tenant bluebird --now 2026-11-19T01:00:00Z",
                      &out),
              0);
    auto breach = nlohmann::json::parse(out)["id"].get<std::string>();
    ASSERT_EQ(gdprctl("--format json breach assess " + breach +
                          " --source access-log --consequences 'addresses exposed' --measures 'archive removed' "
                          "--risk risk --now 2026-11-19T02:00:00Z",
                      &out),
              0);
    auto assessment = nlohmann::json::parse(out)["assessment"];

    auto page = dir() / "report.html";
    ASSERT_EQ(gdprctl("audit --out " + page.string() + k_at), 0);
    auto run = render_in_chromium(page, dir() / "profile");
    ASSERT_EQ(run.exit, 0) << "chromium failed";
    EXPECT_TRUE(run.console.empty()) << run.console.front();
    auto tile = [&](const std::string& key, const std::string& value) {
        return run.dom.find("<div class=\"tile\" data-summary=\"" + key + "\"><b>" + value + "</b>") !=
               std::string::npos;
    };
    EXPECT_TRUE(tile("requests-received", "4")) << run.dom.substr(run.dom.find("id=\"requests\""), 1500);
    EXPECT_TRUE(tile("requests-answered", "2"));
    EXPECT_TRUE(tile("requests-refused", "1"));
    EXPECT_TRUE(tile("requests-overdue", "1"));
    EXPECT_TRUE(tile("requests-median-days", "6.0"));  // 2, 6 and 10 days
    EXPECT_TRUE(tile("requests-worst-days", "10.0"));
    EXPECT_NE(run.dom.find("<tr data-request=\"" + overdue + "\" data-overdue=\"true\">"), std::string::npos);
    EXPECT_NE(run.dom.find("<tr data-breach=\"" + breach + "\" data-people=\"" + assessment["people"].dump() +
                           "\" data-records=\"" + assessment["records"].dump() + "\">"),
              std::string::npos)
        << run.dom.substr(run.dom.find("id=\"breaches\""), 1500);
    EXPECT_NE(run.dom.find("authority OVERDUE"), std::string::npos);

    // acme's report: its own requests and its part of the breach, nothing of bluebird's.
    auto acme = dir() / "acme.html";
    ASSERT_EQ(gdprctl("audit --tenant acme --out " + acme.string() + k_at), 0);
    auto tenant_run = render_in_chromium(acme, dir() / "profile");
    EXPECT_TRUE(tenant_run.console.empty());
    EXPECT_EQ(tenant_run.dom.find(six), std::string::npos);
    EXPECT_NE(tenant_run.dom.find(overdue), std::string::npos);
    EXPECT_EQ(read_text(acme).find("bluebird"), std::string::npos);
    std::uint64_t acme_records = 0;
    for (const auto& affected : assessment["affected"])
        if (affected["tenant"] == "acme") acme_records = affected["records"];
    EXPECT_NE(tenant_run.dom.find("data-records=\"" + std::to_string(acme_records) + "\""), std::string::npos);
}

TEST_F(AuditTest, JsonAndMarkdownCarryTheSameNumbers) {
    std::string json_text, markdown;
    ASSERT_EQ(gdprctl("audit --format json" + k_at, &json_text), 0);
    ASSERT_EQ(gdprctl("audit --format md" + k_at, &markdown), 0);
    auto report = nlohmann::json::parse(json_text);
    std::uint64_t total = 0;
    for (const auto& [key, records] : inventory()) total += records;
    EXPECT_EQ(report["summary"]["records"].get<std::uint64_t>(), total);
    EXPECT_NE(markdown.find("| records held | " + std::to_string(total) + " |"), std::string::npos);
    EXPECT_FALSE(report["erasure"]["certificates_available"].get<bool>());
    EXPECT_TRUE(report["journal"]["intact"].get<bool>());
}

TEST_F(AuditTest, BackupsAppearWithTheirEncryptionStatus) {
    write_text(dir() / "master.key.pass", "correct horse battery staple\n");
    ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string()), 0);
    ASSERT_EQ(gdprctl("backup create --tenant acme" + k_at), 0);
    std::string json_text;
    ASSERT_EQ(gdprctl("audit --format json" + k_at, &json_text), 0);
    auto report = nlohmann::json::parse(json_text);
    ASSERT_EQ(report["backups"].size(), 1u) << report["backups"].dump();
    EXPECT_EQ(report["backups"][0]["tenant"], "acme");
    EXPECT_EQ(report["backups"][0]["status"], "readable");
    // A plain file dropped into the backup directory is a finding of security.backups-encrypted.
    write_text(dir() / "backups/acme/dump.sql", "INSERT INTO viewers VALUES (1, 'x@example.com');\n");
    ASSERT_EQ(gdprctl("audit --format json" + k_at, &json_text), 0);
    report = nlohmann::json::parse(json_text);
    ASSERT_EQ(report["findings"].size(), 1u) << report["findings"].dump(2);
    EXPECT_EQ(report["findings"][0]["policy"], "security.backups-encrypted");
}

}  // namespace
}  // namespace gdprctl::testing
