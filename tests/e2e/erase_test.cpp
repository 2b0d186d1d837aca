// Verified erasure end to end with the real binary on the reference platform: a tenant leaves
// nothing behind and every other tenant stays exactly as it was; a viewer who watched several
// tenants goes everywhere while other viewers' log lines stay byte for byte; certificates check
// with OpenSSL alone and fail after one changed byte; shared addresses are left alone; residue
// means no certificate; a killed erasure finishes when run again.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

using Counts = std::map<std::string, std::uint64_t>;  // "dataset/tenant" -> records

class EraseTest : public ::testing::Test, protected ReferencePlatform {
protected:
    Counts scan_counts() const {
        auto counts = scanned_records(dir());
        EXPECT_FALSE(counts.empty()) << "scan failed";
        return counts;
    }

    nlohmann::json erase_json(const std::string& args, int expected_exit = 0) const {
        std::string out, err;
        EXPECT_EQ(gdprctl("--format json erase --yes " + args, &out, &err), expected_exit) << out << err;
        return nlohmann::json::parse(out);
    }

    // Every line of a log set, whatever file (plain or gzip) holds it now.
    std::multiset<std::string> log_lines(const std::string& glob) const {
        std::string out;
        EXPECT_EQ(run_command("cd " + shell_quote(dir().string()) + " && zcat -f " + glob, &out), 0);
        std::multiset<std::string> lines;
        std::istringstream in(out);
        for (std::string line; std::getline(in, line);) lines.insert(line);
        return lines;
    }

    // Occurrences in the bytes of the database file; none on PostgreSQL, whose files are its server's.
    std::uint64_t raw_occurrences_in_database(const std::string& text) const {
        return database().postgres() ? 0 : database().raw_occurrences(text);
    }

    const nlohmann::json& shared_viewer() const {
        for (const auto& subject : truth["subjects"])
            if (subject["tenants"].size() >= 3 && subject["records"].contains("platform-db:registrations"))
                return subject;
        ADD_FAILURE() << "the seed has no viewer who watched three tenants and registered for a webinar";
        return truth["subjects"][0];
    }

    void init_keys_and_back_up() const {
        ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
        std::string err;
        ASSERT_EQ(gdprctl("backup create --all -q", nullptr, &err), 0) << err;
    }
};

bool contains_line_with(const std::multiset<std::string>& lines, const std::string& text) {
    for (const auto& line : lines)
        if (line.find(text) != std::string::npos) return true;
    return false;
}

TEST_F(EraseTest, ATenantLeavesNothingAnywhereAndEveryOtherTenantStaysExactlyAsItWas) {
    init_keys_and_back_up();
    auto before = scan_counts();
    ASSERT_FALSE(before.empty());
    auto report = erase_json("--tenant acme --certificate " + (dir() / "acme.json").string());
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    EXPECT_TRUE(report["certified"].get<bool>());
    EXPECT_FALSE(report["backups"]["keys_destroyed"].empty());

    auto after = scan_counts();
    for (const auto& [key, records] : before) {
        bool acme = key.size() > 5 && key.substr(key.size() - 5) == "/acme";
        if (acme) {
            EXPECT_EQ(after.count(key), 0u) << key << " still holds records";
        } else {
            EXPECT_EQ(after[key], records) << key << " changed";
        }
    }
    for (const auto& [tenant, facts] : truth["tenants"].items()) {
        if (tenant == "acme") continue;
        for (const auto& [dataset, count] : facts["records"].items())
            EXPECT_EQ(after[dataset + "/" + tenant], count.get<std::uint64_t>()) << dataset << "/" << tenant;
    }
    // On disk, not only through SQL: the tenant's id and name are in no byte of the database.
    EXPECT_EQ(raw_occurrences_in_database("acme"), 0u);
    EXPECT_FALSE(std::filesystem::exists(dir() / "recordings" / "acme"));
    EXPECT_FALSE(contains_line_with(log_lines("logs/access.log*"), "/hls/acme/"));

    // Its backups were crypto-shredded: they fail with a clear message, the others still restore.
    std::string out, err;
    ASSERT_EQ(gdprctl("--format json backup list", &out), 0);
    std::size_t shredded = 0;
    auto listed = nlohmann::json::parse(out);
    for (const auto& backup : listed["backups"]) {
        if (backup["tenant"] == "acme") {
            EXPECT_EQ(backup["status"], "shredded");
            ++shredded;
            // Opening it fails with a clear message; restore refuses an erased tenant outright.
            EXPECT_EQ(gdprctl("decrypt " + backup["path"].get<std::string>() + " -o " + (dir() / "x.tar").string(),
                              &out, &err),
                      4);
            EXPECT_NE(err.find("was destroyed on"), std::string::npos) << err;
            EXPECT_EQ(gdprctl("backup restore " + backup["path"].get<std::string>() + " --to " +
                                  (dir() / "restored-acme").string(),
                              &out, &err),
                      2);
            EXPECT_NE(err.find("tenant acme was erased"), std::string::npos) << err;
        } else if (backup["tenant"] == "bluebird") {
            EXPECT_EQ(backup["status"], "readable");
        }
    }
    EXPECT_GT(shredded, 0u);

    EXPECT_EQ(gdprctl("certificate verify " + (dir() / "acme.json").string(), &out), 0) << out;
    auto certificate = nlohmann::json::parse(read_text(dir() / "acme.json"))["certificate"];
    EXPECT_EQ(certificate["erased"]["tenant"], "acme");
    EXPECT_EQ(gdprctl("erase verify --request " + certificate["request"].get<std::string>(), &out), 0) << out;
    ASSERT_EQ(gdprctl("journal verify", &out), 0) << out;

    // The audit report lists the request with its certificate; another tenant's report does not.
    ASSERT_EQ(gdprctl("audit --format json", &out, &err), 0) << err;
    auto erasure = nlohmann::json::parse(out)["erasure"];
    ASSERT_EQ(erasure["requests"].size(), 1u);
    EXPECT_EQ(erasure["requests"][0]["request"], certificate["request"]);
    EXPECT_TRUE(erasure["requests"][0]["certificate"].get<bool>());
    ASSERT_EQ(gdprctl("audit --tenant bluebird --format json", &out, &err), 0) << err;
    EXPECT_EQ(out.find("acme"), std::string::npos);
}

TEST_F(EraseTest, AViewerOfSeveralTenantsGoesEverywhereWhileOtherViewersLinesStayByteForByte) {
    const auto& subject = shared_viewer();
    auto email = subject["identifiers"]["email"].get<std::string>();
    std::vector<std::string> ips;
    for (const auto& ip : subject["identifiers"]["ip"]) ips.push_back(ip.get<std::string>());
    auto theirs = [&](const std::string& line) {
        if (line.find(email) != std::string::npos) return true;
        for (const auto& ip : ips)
            if (line.find(ip + " ") != std::string::npos || line.find("\"" + ip + "\"") != std::string::npos)
                return true;
        return false;
    };
    std::multiset<std::string> others_before;
    for (const auto& line : log_lines("logs/access.log*"))
        if (!theirs(line)) others_before.insert(line);
    auto sessions_before = scan_counts();

    auto report = erase_json("--subject " + shell_quote("email:" + email));
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    EXPECT_EQ(report["linked_identifiers"].get<std::size_t>(), ips.size() + 1);  // their IPs and user id

    // Gone from the access log (the lines of their IPs), the events, every table; statistics
    // keep their counts without the person.
    auto access_after = log_lines("logs/access.log*");
    EXPECT_EQ(access_after, others_before);
    std::string out;
    ASSERT_EQ(gdprctl("--format json export --dry-run --subject " + shell_quote("email:" + email), &out), 0);
    EXPECT_EQ(nlohmann::json::parse(out)["records"], 0) << out;
    EXPECT_EQ(raw_occurrences_in_database(email), 0u);
    for (const auto& ip : ips) EXPECT_EQ(raw_occurrences_in_database(ip + "\""), 0u);
    auto after = scan_counts();
    std::uint64_t sessions_before_total = 0, sessions_after_total = 0;
    for (const auto& [key, records] : sessions_before)
        if (key.rfind("platform-db:sessions/", 0) == 0) sessions_before_total += records;
    for (const auto& [key, records] : after)
        if (key.rfind("platform-db:sessions/", 0) == 0) sessions_after_total += records;
    EXPECT_EQ(sessions_after_total, sessions_before_total) << "statistics lost rows";
    // Another viewer is untouched.
    const auto& other = truth["subjects"][0] == subject ? truth["subjects"][2] : truth["subjects"][0];
    ASSERT_EQ(gdprctl("--format json export --dry-run --subject " +
                          shell_quote("email:" + other["identifiers"]["email"].get<std::string>()),
                      &out),
              0);
    std::uint64_t other_records = 0;
    for (const auto& [dataset, count] : other["records"].items()) other_records += count.get<std::uint64_t>();
    EXPECT_EQ(nlohmann::json::parse(out)["records"], other_records);
}

TEST_F(EraseTest, ACertificateChecksWithOpensslAloneAndOneChangedByteFailsIt) {
    const auto& subject = truth["subjects"][0];
    auto file = dir() / "cert.json";
    erase_json("--subject " + shell_quote("email:" + subject["identifiers"]["email"].get<std::string>()) +
               " --certificate " + file.string());
    auto text = read_text(file);
    EXPECT_EQ(text.find(subject["identifiers"]["email"].get<std::string>()), std::string::npos)
        << "the certificate holds the identifier in clear";
    EXPECT_EQ(text.find(subject["identifiers"]["ip"][0].get<std::string>()), std::string::npos);

    // The documented recipe (man gdprctl-certificate(1)): no gdprctl involved.
    std::string out, err;
    ASSERT_EQ(
        run_command("cd " + shell_quote(dir().string()) +
                        " && python3 -c 'import json,sys; c=json.load(open(\"cert.json\"))[\"certificate\"]; "
                        "sys.stdout.write(json.dumps(c, sort_keys=True, separators=(\",\",\":\"), "
                        "ensure_ascii=False))' > signed.bin"
                        " && jq -r .signature.value cert.json | base64 -d > sig.bin"
                        " && jq -r .signature.public_key cert.json > pub.pem"
                        " && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in signed.bin -sigfile sig.bin",
                    &out, &err),
        0)
        << out << err;
    EXPECT_NE(out.find("Signature Verified Successfully"), std::string::npos) << out;
    ASSERT_EQ(gdprctl("certificate pubkey -o " + (dir() / "platform.pem").string()), 0);
    EXPECT_EQ(gdprctl("certificate verify --pubkey " + (dir() / "platform.pem").string() + " " + file.string(), &out),
              0)
        << out;

    // One byte changed anywhere in what was signed: exit 4, for gdprctl and for OpenSSL.
    auto at = text.find("\"records\": ");
    ASSERT_NE(at, std::string::npos);
    auto tampered = text;
    auto& digit = tampered[at + 11];
    digit = digit == '9' ? '8' : static_cast<char>(digit + 1);
    std::ofstream(dir() / "tampered.json") << tampered;
    EXPECT_EQ(gdprctl("certificate verify " + (dir() / "tampered.json").string(), &out), 4) << out;
    EXPECT_NE(out.find("changed after signing"), std::string::npos) << out;
    EXPECT_NE(run_command("cd " + shell_quote(dir().string()) +
                          " && python3 -c 'import json,sys; c=json.load(open(\"tampered.json\"))[\"certificate\"]; "
                          "sys.stdout.write(json.dumps(c, sort_keys=True, separators=(\",\",\":\"), "
                          "ensure_ascii=False))' > signed2.bin"
                          " && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in signed2.bin -sigfile sig.bin"),
              0);
    // Signed by another key than the one given: exit 4 too.
    ASSERT_EQ(run_command("openssl genpkey -algorithm ed25519 -out " + (dir() / "other.key").string() +
                          " && openssl pkey -in " + (dir() / "other.key").string() + " -pubout -out " +
                          (dir() / "other.pem").string()),
              0);
    EXPECT_EQ(gdprctl("certificate verify --pubkey " + (dir() / "other.pem").string() + " " + file.string()), 4);

    ASSERT_EQ(gdprctl("certificate show --format html -o " + (dir() / "cert.html").string() + " " + file.string()), 0);
    EXPECT_NE(read_text(dir() / "cert.html").find("Certificate of erasure"), std::string::npos);
}

TEST_F(EraseTest, AnAddressOtherPeopleUsedIsReportedAndLeftAloneUnlessErasedWithinOneTenant) {
    const auto& subject = truth["subjects"][0];
    auto email = subject["identifiers"]["email"].get<std::string>();
    auto ip = subject["identifiers"]["ip"][0].get<std::string>();
    // Another viewer behind the same NAT: a session of viewer 5 from the subject's address.
    database().execute(
        "INSERT INTO sessions (stream_id, viewer_id, ip, user_agent, started_at, duration_s) SELECT id, 5, '" + ip +
        "', 'x', 1795400000000, 60 FROM streams ORDER BY id LIMIT 1");
    auto lines_of_ip_before = 0u;
    for (const auto& line : log_lines("logs/access.log*"))
        if (line.rfind(ip + " ", 0) == 0) ++lines_of_ip_before;
    ASSERT_GT(lines_of_ip_before, 0u);

    std::string out, err;
    ASSERT_EQ(gdprctl("erase --yes --subject " + shell_quote("email:" + email), &out, &err), 0) << out << err;
    EXPECT_NE(out.find("left alone: " + ip), std::string::npos) << out;
    auto lines_of_ip_after = 0u;
    for (const auto& line : log_lines("logs/access.log*"))
        if (line.rfind(ip + " ", 0) == 0) ++lines_of_ip_after;
    EXPECT_EQ(lines_of_ip_after, lines_of_ip_before) << "a shared address was erased";
    // The journal never names it.
    ASSERT_EQ(gdprctl("--format json journal show", &out), 0);
    EXPECT_EQ(out.find(ip), std::string::npos);

    // Within one tenant, on request, it goes from that tenant only.
    std::string tenant = subject["tenants"][0].get<std::string>();
    auto report = erase_json("--tenant " + tenant + " --subject ip:" + ip);
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    std::size_t in_tenant = 0, elsewhere = 0;
    for (const auto& line : log_lines("logs/access.log*")) {
        if (line.rfind(ip + " ", 0) != 0) continue;
        (line.find("/hls/" + tenant + "/") != std::string::npos ? in_tenant : elsewhere)++;
    }
    EXPECT_EQ(in_tenant, 0u);
    EXPECT_GT(elsewhere, 0u);
}

TEST_F(EraseTest, ALaterRescanFindsWhatCameBackInAnySpellingOfTheAddress) {
    const auto& subject = truth["subjects"][2];
    auto email = subject["identifiers"]["email"].get<std::string>();
    std::string out;
    // Without a keystore nothing is kept sealed: the identifiers must be given again.
    auto unsealed = erase_json("--subject " +
                               shell_quote("email:" + truth["subjects"][3]["identifiers"]["email"].get<std::string>()));
    EXPECT_EQ(gdprctl("erase verify --request " + unsealed["request"].get<std::string>(), &out), 2);
    ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
    auto report = erase_json("--subject " + shell_quote("email:" + email));
    ASSERT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    auto request = report["request"].get<std::string>();
    ASSERT_EQ(gdprctl("erase verify --request " + request, &out), 0) << out;

    // A line restored from an old copy of the log: the rescan, with the identifiers the request
    // kept sealed, finds it; so it does an IPv6 address given again, written in full.
    auto ip = subject["identifiers"]["ip"][0].get<std::string>();
    std::ofstream(dir() / "logs" / "access.log", std::ios::app)
        << ip
        << " - - [23/Nov/2026:15:00:00 +0000] \"GET /hls/acme/index.m3u8 HTTP/1.1\" 200 1 \"-\" \"x\" \"-\" rt=0.001\n"
        << "2001:0DB8:0000:0000:0000:0000:0000:0007 - - [23/Nov/2026:15:00:01 +0000] \"GET /hls/acme/a.ts HTTP/1.1\" "
           "200 1 \"-\" \"x\" \"-\" rt=0.001\n";
    EXPECT_EQ(gdprctl("erase verify --request " + request, &out), 1) << out;
    EXPECT_NE(out.find("access.log"), std::string::npos) << out;
    EXPECT_EQ(out.find(ip), std::string::npos) << "the report names the address";
    ASSERT_EQ(gdprctl("--format json erase verify --request " + request + " --subject ip:2001:db8::7", &out), 1) << out;
    std::uint64_t occurrences = 0;
    auto verification = nlohmann::json::parse(out);
    for (const auto& residue : verification["residue"]) occurrences += residue["matches"].get<std::uint64_t>();
    EXPECT_EQ(occurrences, 2u) << out;  // the restored IPv4 line and the IPv6 one
}

TEST_F(EraseTest, ACopyInAnUndeclaredTableIsRedactedAndOneInABlobIsResidue) {
    const auto& subject = truth["subjects"][1];
    auto email = subject["identifiers"]["email"].get<std::string>();
    // Copies of the e-mail in a table the data map does not know: as text, the erasure replaces
    // it and lists the change; inside a BLOB it cannot, and only the rescan of what the map does
    // not declare sees it (SQLite: every value and the file's bytes; PostgreSQL: every other
    // text and bytea column).
    bool postgres = database().postgres();
    database().execute("CREATE TABLE support_notes (body TEXT); INSERT INTO support_notes VALUES ('call " + email +
                       " back'); CREATE TABLE attachments (data " + (postgres ? "bytea" : "BLOB") + ")");
    auto redacted = erase_json("--subject " + shell_quote("email:" + email), 0);
    EXPECT_EQ(redacted["verification"]["result"], "no residue") << redacted.dump(2);
    bool listed = false;
    for (const auto& source : redacted["sources"])
        for (const auto& action : source["actions"])
            listed = listed || (action["what"] == "redact body" && action["records"] == 1 && action["other_people"]);
    EXPECT_TRUE(listed) << redacted.dump(2);
    EXPECT_EQ(database().value("SELECT body FROM support_notes"), "call [erased] back");

    const auto& other = truth["subjects"][2];
    auto other_email = other["identifiers"]["email"].get<std::string>();
    database().execute(std::string("INSERT INTO attachments VALUES (") +
                       (postgres ? "convert_to('from " + other_email + " ok', 'UTF8')"
                                 : "CAST('from " + other_email + " ok' AS BLOB)") +
                       ")");
    auto report = erase_json("--subject " + shell_quote("email:" + other_email), 1);
    EXPECT_EQ(report["verification"]["result"], "residue found");
    EXPECT_FALSE(report["certified"].get<bool>());
    bool found = false;
    for (const auto& residue : report["verification"]["residue"])
        found = found || residue["location"].get<std::string>().find("attachments") != std::string::npos;
    EXPECT_TRUE(found) << report.dump(2);
    std::string out;
    ASSERT_EQ(gdprctl("--format json erase list", &out), 0);
    auto requests = nlohmann::json::parse(out);
    for (const auto& request : requests)
        if (request["id"] == report["request"]) {
            EXPECT_EQ(request["status"], "residue") << out;
        }
    EXPECT_NE(gdprctl("certificate show --request " + report["request"].get<std::string>(), &out), 0);
}

TEST_F(EraseTest, ADryRunChangesNothingAndWithoutYesOrATerminalNothingIsErased) {
    auto before = scan_counts();
    std::string out, err;
    ASSERT_EQ(gdprctl("erase --dry-run --tenant bluebird", &out, &err), 0) << err;
    EXPECT_NE(out.find("Would erase tenant bluebird"), std::string::npos) << out;
    EXPECT_EQ(gdprctl("erase --tenant bluebird < /dev/null", &out, &err), 2);
    EXPECT_NE(err.find("--yes"), std::string::npos) << err;
    EXPECT_EQ(scan_counts(), before);

    EXPECT_EQ(gdprctl("erase --yes", &out, &err), 2);
    EXPECT_EQ(gdprctl("erase --yes --subject nickname:bob", &out, &err), 2);
    EXPECT_NE(err.find("unknown identifier kind"), std::string::npos) << err;
    std::ofstream(dir() / "ids.txt") << "email:ann@example.org\nnot-an-identifier\n";
    EXPECT_EQ(gdprctl("erase --yes --subject-file " + (dir() / "ids.txt").string(), &out, &err), 2);
    EXPECT_NE(err.find("ids.txt:2"), std::string::npos) << err;
    EXPECT_EQ(scan_counts(), before);
}

TEST_F(EraseTest, APersonInOlderBackupsIsLedgeredAndTheCertificateSaysUntilWhen) {
    init_keys_and_back_up();
    const auto& subject = shared_viewer();
    auto email = subject["identifiers"]["email"].get<std::string>();
    auto report = erase_json("--subject " + shell_quote("email:" + email));
    ASSERT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    const auto& held = report["backups"]["still_holding"];
    ASSERT_FALSE(held.empty());
    EXPECT_NE(held[0]["removed_by_retention"].get<std::string>().find("retention.backups-90d"), std::string::npos)
        << held.dump();

    // A restore of a backup made before the erasure leaves the person out.
    std::string out, err;
    ASSERT_EQ(gdprctl("--format json backup list", &out), 0);
    std::string backup;
    auto listed = nlohmann::json::parse(out);
    for (const auto& file : listed["backups"])
        if (file["tenant"] == subject["tenants"][0]) backup = file["path"].get<std::string>();
    ASSERT_FALSE(backup.empty());
    ASSERT_EQ(gdprctl("--format json backup restore " + backup + " --to " + (dir() / "restored").string(), &out, &err),
              0)
        << err;
    EXPECT_GT(nlohmann::json::parse(out)["records_left_out"].get<std::uint64_t>(), 0u) << out;
    ASSERT_EQ(run_command("grep -r -l -F " + shell_quote(email) + " " + (dir() / "restored").string(), &out), 1) << out;
}

void seed_with_bigger_logs(const std::filesystem::path& dir) {
    std::string out;
    ASSERT_EQ(
        seed_reference_platform(dir, "--seed 5 --log-size 24M --now " + std::to_string(ReferencePlatform::k_now), &out),
        0)
        << out;
}

TEST(Erase, AnErasureKilledAtAnyPointIsFinishedByRunningItAgain) {
    TempDir one_shot, killed;
    seed_with_bigger_logs(one_shot.path());
    seed_with_bigger_logs(killed.path());
    std::string binary = GDPRCTL_BINARY, out;
    ASSERT_EQ(
        run_command(binary + " --config " + (one_shot / "gdprctl.json").string() + " erase --yes --tenant acme", &out),
        0)
        << out;

    std::string config = (killed / "gdprctl.json").string();
    run_and_kill_after({binary, "--config", config, "erase", "--yes", "--tenant", "acme"}, {20, 60, 120, 240, 480});
    ASSERT_EQ(run_command(binary + " --config " + config + " --format json erase --yes --tenant acme", &out), 0) << out;
    auto report = nlohmann::json::parse(out);
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    EXPECT_TRUE(report["certified"].get<bool>());
    EXPECT_EQ(scanned_records(killed.path()), scanned_records(one_shot.path()));
    ASSERT_EQ(run_command(binary + " --config " + config + " journal verify", &out), 0) << out;
}

}  // namespace
}  // namespace gdprctl::testing
