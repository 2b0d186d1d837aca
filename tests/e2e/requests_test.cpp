// Data subject requests on the reference platform, through the real binary: a request opened,
// verified, exported and closed in time; an overdue one failing `check` in SARIF and JUnit that
// validate against their schemas; an extension past three months refused; an erasure request
// that lists the recipients Art. 19 names and closes only once they were told. What the
// archive and the stores hold is checked from outside (unzip, sqlite3, grep -a), never with
// gdprctl.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

const std::filesystem::path k_source_dir = GDPRCTL_SOURCE_DIR;

class RequestsTest : public ::testing::Test, protected ReferencePlatform {
protected:
    void SetUp() override {
        ASSERT_EQ(import_reference_register(), 0);
        ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
    }

    // A viewer with an e-mail address and webinar registrations in the platform database.
    const nlohmann::json& viewer() const {
        for (const auto& subject : truth["subjects"])
            if (subject["identifiers"].contains("email") && subject["records"].contains("platform-db:registrations"))
                return subject;
        ADD_FAILURE() << "the seed has no viewer with an e-mail address who registered for a webinar";
        return truth["subjects"][0];
    }
    std::string email() const { return viewer()["identifiers"]["email"].get<std::string>(); }

    std::string open(const std::string& kind, const std::string& received) const {
        auto opened = gdprctl_json("request open --kind " + kind + " --subject email:" + email() + " --received " +
                                       received + " --channel e-mail --now " + received,
                                   0);
        return opened["id"].get<std::string>();
    }

    std::uint64_t occurrences_in_state(const std::string& text) const {
        std::string out;
        run_command(
            "cat " + (dir() / ".gdprctl").string() + "/state.db* | grep -a -i -o -F " + shell_quote(text) + " | wc -l",
            &out);
        return std::stoull(out);
    }

    static std::string validate_sarif(const std::filesystem::path& sarif) {
        std::string out;
        int exit = run_command(
            "/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), "
            "json.load(open(sys.argv[2])))' " +
                sarif.string() + " " + (k_source_dir / "tests/data/schemas/sarif-schema-2.1.0.json").string(),
            &out, &out);
        return exit == 0 ? "" : out;
    }

    static std::string validate_junit(const std::filesystem::path& junit) {
        std::string out;
        int exit = run_command("xmllint --noout --schema " + (k_source_dir / "tests/data/schemas/JUnit.xsd").string() +
                                   " " + junit.string(),
                               &out, &out);
        return exit == 0 ? "" : out;
    }

    static std::vector<nlohmann::json> findings_of(const nlohmann::json& check, const std::string& policy) {
        std::vector<nlohmann::json> found;
        for (const auto& finding : check["findings"])
            if (finding["policy"] == policy) found.push_back(finding);
        return found;
    }
};

TEST_F(RequestsTest, ARequestOpenedVerifiedExportedAndClosedInTimeLeavesNoFinding) {
    auto id = open("access", "2026-11-20T09:00:00Z");
    EXPECT_EQ(id, "rq-2026-0001");
    // The person's address is sealed: no byte of the state database (or its write-ahead log) holds it.
    EXPECT_EQ(occurrences_in_state(email()), 0u);
    std::string body;
    ASSERT_EQ(run_command("sqlite3 " + (dir() / ".gdprctl/state.db").string() +
                              " \"SELECT body FROM subject_requests WHERE id = '" + id + "'\"",
                          &body),
              0);
    auto stored = nlohmann::json::parse(body);
    EXPECT_EQ(stored["subject_kinds"], nlohmann::json::array({"email"}));
    EXPECT_EQ(stored["received"], "2026-11-20T09:00:00Z");

    // Not before the identity is verified.
    auto archive = dir() / "ann.zip";
    std::string out, err;
    EXPECT_EQ(
        gdprctl("export --request " + id + " --out " + archive.string() + " --now 2026-11-21T10:00:00Z", &out, &err),
        2);
    EXPECT_NE(err.find("not verified"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(archive));

    ASSERT_EQ(
        gdprctl("request verify " + id + " --method 'account login' --by 'Support desk' --now 2026-11-21T09:00:00Z"),
        0);
    auto exported =
        gdprctl_json("export --request " + id + " --out " + archive.string() + " --now 2026-11-21T10:00:00Z", 0);
    // The archive holds the person's registrations, as many as the seeder wrote for them.
    std::string registrations;
    ASSERT_EQ(run_command("unzip -p " + archive.string() + " records/platform-db/registrations.jsonl | wc -l",
                          &registrations),
              0);
    EXPECT_EQ(std::stoull(registrations), viewer()["records"]["platform-db:registrations"].get<std::uint64_t>());
    EXPECT_EQ(exported["records"].get<std::uint64_t>() > 0, true);

    auto shown = gdprctl_json("request show " + id + " --now 2026-11-21T10:00:00Z", 0);
    ASSERT_EQ(shown["actions"].size(), 1u);
    EXPECT_EQ(shown["actions"][0]["reference"], std::filesystem::absolute(archive).string());
    std::string sha;
    ASSERT_EQ(run_command("sha256sum " + archive.string(), &sha), 0);
    EXPECT_EQ(shown["actions"][0]["details"]["sha256"], sha.substr(0, 64));
    EXPECT_EQ(shown["status"], "carried out");

    auto closed = gdprctl_json("request close " + id + " --now 2026-11-22T09:00:00Z", 0);
    EXPECT_EQ(closed["status"], "answered");
    EXPECT_EQ(closed["days_to_answer"], 2);
    EXPECT_EQ(closed["answered_late"], false);
    auto check = gdprctl_json("check --now 2026-12-30T00:00:00Z", 0);
    EXPECT_TRUE(findings_of(check, "requests.answered-in-time").empty()) << check.dump(2);
    // A closed request is closed: nothing more is carried out for it.
    EXPECT_EQ(gdprctl("export --request " + id + " --out " + (dir() / "again.zip").string()), 2);
    // The journal says what happened, and never who.
    ASSERT_EQ(gdprctl("journal show", &out), 0);
    for (const char* command : {"request open", "request verify", "request export", "request close"})
        EXPECT_NE(out.find(command), std::string::npos) << command << " is not in the journal:\n" << out;
    EXPECT_EQ(out.find(email()), std::string::npos);
}

TEST_F(RequestsTest, AnOverdueRequestFailsCheckInSarifAndJunitThatValidateAgainstTheirSchemas) {
    auto overdue = open("erasure", "2026-10-01T12:00:00Z");
    auto nearly = open("portability", "2026-10-25T12:00:00Z");
    auto fresh = open("access", "2026-11-20T12:00:00Z");
    const std::string now = " --now 2026-11-23T15:25:10Z";

    auto listed = gdprctl_json("request list --overdue" + now, 0);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["id"], overdue);
    EXPECT_EQ(listed[0]["due"], "2026-11-01T23:59:59Z");
    auto due_soon = gdprctl_json("request list --due-within 7d" + now, 0);
    ASSERT_EQ(due_soon.size(), 2u) << due_soon.dump(2);
    EXPECT_EQ(due_soon[1]["id"], nearly);

    auto check = gdprctl_json("check" + now, 1);
    auto found = findings_of(check, "requests.answered-in-time");
    ASSERT_EQ(found.size(), 2u) << check.dump(2);
    EXPECT_EQ(found[0]["severity"], "error");
    EXPECT_EQ(found[0]["where"], "request " + overdue);
    EXPECT_NE(found[0]["message"].get<std::string>().find("21 days past its due date"), std::string::npos)
        << found[0]["message"];
    EXPECT_EQ(found[1]["severity"], "warning");
    EXPECT_EQ(found[1]["where"], "request " + nearly);
    for (const auto& finding : check["findings"]) EXPECT_NE(finding["where"], "request " + fresh);

    auto sarif = dir() / "check.sarif";
    auto junit = dir() / "check.xml";
    EXPECT_EQ(gdprctl("check --format sarif --out " + sarif.string() + now), 1);
    EXPECT_EQ(gdprctl("check --format junit --out " + junit.string() + now), 1);
    EXPECT_EQ(validate_sarif(sarif), "");
    EXPECT_EQ(validate_junit(junit), "");
    auto document = nlohmann::json::parse(read_text(sarif));
    std::size_t errors = 0;
    for (const auto& result : document["runs"][0]["results"])
        if (result["ruleId"] == "requests.answered-in-time" && result["level"] == "error") {
            ++errors;
            EXPECT_EQ(result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], "request " + overdue);
        }
    EXPECT_EQ(errors, 1u);
    auto xml = read_text(junit);
    auto testcase = xml.find("name=\"requests.answered-in-time\"");
    ASSERT_NE(testcase, std::string::npos) << xml;
    EXPECT_LT(xml.find("<failure", testcase), xml.find("</testcase>", testcase)) << xml;

    // Answered (late), it no longer fails the build; the late answer stays on record.
    ASSERT_EQ(gdprctl("request close " + overdue + " --refused 'Art. 17(3)(b): kept for a legal obligation'" + now), 0);
    ASSERT_EQ(gdprctl("check" + now), 0);
    EXPECT_EQ(gdprctl_json("request show " + overdue + now, 0)["answered_late"], true);
}

TEST_F(RequestsTest, AnExtensionPastThreeMonthsFromReceiptIsRefusedAndChangesNothing) {
    auto id = open("access", "2026-11-20T09:00:00Z");
    auto extended = gdprctl_json(
        "request extend " + id + " --months 2 --reason 'many archives to gather' --now 2026-11-25T00:00:00Z", 0);
    EXPECT_EQ(extended["due"], "2027-02-20T23:59:59Z");
    std::string out, err;
    EXPECT_EQ(gdprctl("request extend " + id + " --months 1 --reason more --now 2026-11-26T00:00:00Z", &out, &err), 2);
    EXPECT_NE(err.find("past three months from receipt"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request extend " + id + " --months 3 --reason more --now 2026-11-26T00:00:00Z", &out, &err), 2);
    auto shown = gdprctl_json("request show " + id + " --now 2026-11-26T00:00:00Z", 0);
    EXPECT_EQ(shown["due"], "2027-02-20T23:59:59Z");
    EXPECT_EQ(shown["extensions"].size(), 1u);

    // An extension is told within the first month; after it the request is simply late.
    auto late = open("access", "2026-09-01T09:00:00Z");
    EXPECT_EQ(gdprctl("request extend " + late + " --months 1 --reason late --now 2026-10-02T00:00:00Z", &out, &err),
              2);
    EXPECT_NE(err.find("within one month of receipt"), std::string::npos) << err;
}

TEST_F(RequestsTest, AnErasureRequestNamesTheRecipientsToTellAndClosesOnlyOnceTheyWereTold) {
    auto id = open("erasure", "2026-11-20T09:00:00Z");
    // Counted from outside, by the database's own client (sqlite3 or psql).
    auto count_rows = [&] {
        return database().value("SELECT COUNT(*) FROM registrations WHERE email = '" + email() + "'");
    };
    EXPECT_NE(count_rows(), "0");
    // Unverified, it runs only with a reason, and the reason is journaled.
    EXPECT_EQ(gdprctl("erase --request " + id + " --yes --now 2026-11-21T00:00:00Z"), 2);
    EXPECT_NE(count_rows(), "0") << "an unverified request erased";
    auto report = gdprctl_json("erase --request " + id +
                                   " --yes --unverified-reason 'the account owner asked while logged in' --now "
                                   "2026-11-21T00:00:00Z",
                               0);
    EXPECT_EQ(report["certified"], true);
    EXPECT_EQ(count_rows(), "0");
    std::vector<std::string> recipients = report["recipients_to_tell"];
    // The register's recipients of the person's categories (streaming, usage, webinar data);
    // the internal support team is the platform itself.
    EXPECT_NE(std::find(recipients.begin(), recipients.end(), "MailRelay GmbH"), recipients.end());
    EXPECT_NE(std::find(recipients.begin(), recipients.end(), "EdgeCDN SE"), recipients.end());
    EXPECT_EQ(std::find(recipients.begin(), recipients.end(), "Platform support team"), recipients.end());

    std::string out, err;
    ASSERT_EQ(gdprctl("journal show", &out), 0);
    EXPECT_NE(out.find("the account owner asked while logged in"), std::string::npos) << out;
    EXPECT_EQ(gdprctl("request close " + id + " --now 2026-11-22T00:00:00Z", &out, &err), 2);
    EXPECT_NE(err.find("Art. 19"), std::string::npos) << err;
    auto closed = gdprctl_json("request close " + id + " --recipients-told --now 2026-11-22T00:00:00Z", 0);
    EXPECT_EQ(closed["status"], "answered");
    EXPECT_EQ(closed["closing"]["recipients"], "told");
    EXPECT_EQ(closed["actions"][0]["reference"], report["request"]);
    EXPECT_EQ(closed["recipients_to_tell"].size(), recipients.size());
}

TEST_F(RequestsTest, BadInputSaysWhatIsWrongAndChangesNothing) {
    std::string out, err;
    EXPECT_EQ(gdprctl("request open --kind deletion --subject email:a@example.org", &out, &err), 2);
    EXPECT_NE(err.find("deletion"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request open --kind access", &out, &err), 2);
    EXPECT_NE(err.find("--subject"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request open --kind access --subject email:a@example.org --received 2027-01-01 --now 2026-11-23",
                      &out, &err),
              2);
    EXPECT_NE(err.find("after now"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request open --kind access --subject email:a@example.org --tenant acmee", &out, &err), 2);
    EXPECT_NE(err.find("acmee"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request show rq-2026-0042", &out, &err), 2);
    EXPECT_NE(err.find("request list"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("request list --due-within soon", &out, &err), 2);
    EXPECT_NE(err.find("7d"), std::string::npos) << err;
    EXPECT_EQ(gdprctl_json("request list", 0).size(), 0u);
}

}  // namespace
}  // namespace gdprctl::testing
