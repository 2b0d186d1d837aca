// The register model on its own: the canonical JSON round trip, strict reading, the CSV cell
// rules spreadsheets need, and mapping a JSON pointer back to a line for CI annotations.
#include <gtest/gtest.h>

#include "core/config/reader.hpp"
#include "core/error.hpp"
#include "core/policy/findings.hpp"
#include "core/ropa/register.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::ropa {
namespace {

const std::vector<std::string> k_categories = {"usage-data", "streaming-data", "backups"};

nlohmann::json sample() {
    return nlohmann::json::parse(R"({
      "version": 1,
      "controller": {"name": "P", "contact": "p@example.net"},
      "processor": {"name": "P", "contact": "p@example.net", "dpo": "dpo@example.net"},
      "controllers_served": [{"tenant": "acme", "name": "ACME", "contact": "a@example.net"}],
      "activities": [{
        "id": "logs", "name": "Logs", "role": "processor", "purposes": ["security"],
        "legal_basis": "art6-1-f", "data_subjects": ["viewers"], "categories": ["usage-data"],
        "recipients": [{"name": "CDN", "type": "sub-processor", "country": "US"}],
        "transfers": [{"country": "US", "recipient": "CDN", "safeguard": "scc", "reference": "SCC 2021/914"}],
        "retention": {"days": 90, "description": "then deleted"},
        "security_measures": ["TLS"], "sources": ["access-log"]
      }]
    })");
}

TEST(Register, CanonicalJsonRoundTripsExactly) {
    auto reg = register_from_json(sample(), "r.json", k_categories);
    EXPECT_EQ(register_to_json(reg), sample());
    EXPECT_EQ(register_to_json(register_from_json(register_to_json(reg), "again", k_categories)), sample());
}

TEST(Register, MissingFieldsAreAllowedOnReadForValidationToReport) {
    auto reg =
        register_from_json(nlohmann::json::parse(R"({"activities": [{"id": "draft"}]})"), "r.json", k_categories);
    ASSERT_EQ(reg.activities.size(), 1u);
    EXPECT_TRUE(reg.activities[0].legal_basis.empty());
    EXPECT_FALSE(reg.activities[0].retention.present());
}

void expect_config_error(const nlohmann::json& document, const std::string& fragment) {
    try {
        register_from_json(document, "r.json", k_categories);
        ADD_FAILURE() << "accepted: " << document.dump();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::config);
        auto text = std::string(e.what()) + "\n" + e.hint();
        EXPECT_NE(text.find(fragment), std::string::npos) << text;
    }
}

TEST(Register, StrictReadingNamesThePointer) {
    auto doc = sample();
    doc["activities"][0]["legal_basis"] = "art6-1-x";
    expect_config_error(doc, "r.json: /activities/0/legal_basis: unknown legal basis \"art6-1-x\"");
    doc = sample();
    doc["activities"][0]["transfers"][0]["safeguard"] = "sccs";
    expect_config_error(doc, "/activities/0/transfers/0/safeguard");
    doc = sample();
    doc["activities"][0]["categories"] = {"usage-dat"};
    expect_config_error(doc, "did you mean \"usage-data\"");
    doc = sample();
    doc["activities"][0]["retention"]["days"] = "ninety";
    expect_config_error(doc, "/activities/0/retention/days: expected an integer");
    doc = sample();
    doc["controllers_served"].push_back(doc["controllers_served"][0]);
    expect_config_error(doc, "/controllers_served/1/tenant: tenant \"acme\" is listed twice");
    doc = sample();
    doc["version"] = 2;
    expect_config_error(doc, "unsupported register version 2");
}

TEST(Register, EeaMembershipAndBasesAreByTheRegulationsLists) {
    EXPECT_TRUE(in_eea("de"));
    EXPECT_TRUE(in_eea("NO"));
    EXPECT_FALSE(in_eea("CH"));  // adequacy, but not EEA: a transfer that needs its safeguard named
    EXPECT_FALSE(in_eea("GB"));
    EXPECT_TRUE(is_legal_basis("art6-1-a"));
    EXPECT_FALSE(is_legal_basis("art9-2-a"));
    EXPECT_TRUE(is_special_condition("art9-2-j"));
    EXPECT_EQ(describe_legal_basis("art6-1-f"), "Art. 6(1)(f) legitimate interests");
}

TEST(Register, CsvCellsAreQuotedAndNeverFormulas) {
    EXPECT_EQ(csv_field("plain"), "plain");
    EXPECT_EQ(csv_field("a, b"), "\"a, b\"");
    EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    EXPECT_EQ(csv_field("-1"), "'-1");
    auto csv = register_to_csv(register_from_json(sample(), "r.json", k_categories));
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2);
    EXPECT_NE(csv.find("US: standard contractual clauses (Art. 46(2)(c)) - SCC 2021/914"), std::string::npos);
}

TEST(Register, MarkupEscapingCoversHtmlAndXml) {
    EXPECT_EQ(util::markup_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    EXPECT_EQ(util::markup_escape("a\x01"
                                  "b\tc\nd"),
              "a b\tc\nd");
}

TEST(JsonPointerLine, FindsTheLineWhereTheValueStarts) {
    std::string text =
        "{\n  \"a\": 1,\n  \"list\": [\n    {\"x\": 1},\n    {\n      \"y/z\": [true, \"s\"]\n    }\n  ]\n}\n";
    EXPECT_EQ(config::line_of_pointer(text, ""), 1u);
    EXPECT_EQ(config::line_of_pointer(text, "/a"), 2u);
    EXPECT_EQ(config::line_of_pointer(text, "/list"), 3u);
    EXPECT_EQ(config::line_of_pointer(text, "/list/0"), 4u);
    EXPECT_EQ(config::line_of_pointer(text, "/list/1/y~1z/1"), 6u);
    EXPECT_EQ(config::line_of_pointer(text, "/list/7"), 0u);
    EXPECT_EQ(config::line_of_pointer("{\"a\": \"esc\\\"aped\", \"b\": 2}", "/b"), 1u);
    EXPECT_EQ(config::line_of_pointer("{\"a\": [", "/a/0"), 0u);
}

TEST(Findings, JunitTextIsValidXmlEvenWithControlCharacters) {
    policy::CheckResult result;
    result.rules.push_back({"r.one", "register-complete", "why", "Art. 30", policy::Severity::error});
    result.rules.push_back({"r.two", "register-drift", "why", "Art. 30", policy::Severity::warning});
    result.findings.push_back({"r.one", policy::Severity::error, "", "", "where", "bad <thing>", "fix it"});
    auto xml = policy::findings_junit(result, "suite");
    EXPECT_NE(xml.find("tests=\"2\" failures=\"1\""), std::string::npos) << xml;
    EXPECT_NE(xml.find("bad &lt;thing&gt;"), std::string::npos);
    EXPECT_EQ(result.count_at_least(policy::Severity::warning), 1u);
    EXPECT_EQ(result.count_at_least(policy::Severity::error), 1u);
}

}  // namespace
}  // namespace gdprctl::ropa
