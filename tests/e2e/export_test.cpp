// Exports end to end with the real binary on the reference platform: counts per source equal
// the seeder's truth, standard tools open the archives, verify catches changed and added
// entries, tenants stay isolated, a shared viewer's export holds exactly their records.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

class ExportTest : public ::testing::Test, protected ReferencePlatform {
protected:
    nlohmann::json export_json(const std::string& args) {
        std::string out, err;
        EXPECT_EQ(gdprctl("--format json export " + args, &out, &err), 0) << err;
        return nlohmann::json::parse(out);
    }
};

std::map<std::string, std::uint64_t> counts_of(const nlohmann::json& report) {
    std::map<std::string, std::uint64_t> counts;
    for (const auto& dataset : report["datasets"]) counts[dataset["dataset"]] = dataset["records"].get<std::uint64_t>();
    return counts;
}

TEST_F(ExportTest, EachTenantsExportHoldsExactlyItsRecordsAndStandardToolsOpenIt) {
    for (const auto& [tenant, facts] : truth["tenants"].items()) {
        auto zip = dir() / (tenant + ".zip");
        auto report = export_json("--tenant " + tenant + " --out " + zip.string());
        auto counts = counts_of(report);
        for (const auto& [dataset, records] : facts["records"].items())
            EXPECT_EQ(counts[dataset], records.get<std::uint64_t>()) << tenant << " " << dataset;
        EXPECT_EQ(std::filesystem::status(zip).permissions() & std::filesystem::perms::all,
                  std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        std::string out;
        EXPECT_EQ(run_command("unzip -tq " + zip.string(), &out), 0) << out;
        EXPECT_EQ(gdprctl("export verify " + zip.string(), &out), 0) << out;

        // Rows counted independently from the extracted CSV: one line per row plus the header.
        auto extracted = dir() / ("x-" + tenant);
        ASSERT_EQ(run_command("mkdir -p " + extracted.string() + " && cd " + extracted.string() + " && unzip -q " +
                              zip.string()),
                  0);
        std::string lines;
        run_command("wc -l < " + (extracted / "records/platform-db/sessions.csv").string(), &lines);
        EXPECT_EQ(std::stoull(lines), facts["records"]["platform-db:sessions"].get<std::uint64_t>() + 1);
        // Nothing of any other tenant: recordings only from this tenant's folder.
        for (const auto& other : truth["tenants"].items()) {
            if (other.key() != tenant) {
                EXPECT_FALSE(std::filesystem::exists(extracted / "files/recordings" / other.key())) << other.key();
            }
        }
    }
}

TEST_F(ExportTest, TarFormatsOpenWithTarAndBsdtar) {
    auto tgz = dir() / "a.tar.gz";
    auto tzst = dir() / "a.tar.zst";
    export_json("--tenant acme --format tar.gz --out " + tgz.string());
    export_json("--tenant acme --format tar.zst --out " + tzst.string());
    std::string gnu, bsd, zst;
    ASSERT_EQ(run_command("tar tzf " + tgz.string(), &gnu), 0);
    ASSERT_EQ(run_command("bsdtar tf " + tgz.string(), &bsd), 0);
    ASSERT_EQ(run_command("tar --zstd -tf " + tzst.string(), &zst), 0);
    EXPECT_EQ(gnu, bsd);
    // Two exports hold the same entries; files are archived as the collectors find them, so
    // their order may differ.
    auto sorted_lines = [](const std::string& text) {
        std::multiset<std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) lines.insert(line);
        return lines;
    };
    EXPECT_EQ(sorted_lines(gnu), sorted_lines(zst));
    EXPECT_NE(gnu.find("manifest.json"), std::string::npos);
    EXPECT_NE(gnu.find("README.html"), std::string::npos);
    EXPECT_EQ(gdprctl("export verify " + tzst.string()), 0);
}

TEST_F(ExportTest, VerifyNamesAChangedOrAddedEntry) {
    auto zip = dir() / "a.zip";
    export_json("--tenant acme --out " + zip.string());
    // Rewritten with Python's zipfile: one entry's bytes changed, everything else kept.
    auto rewrite = R"PY(
import sys, zipfile
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        data = zin.read(item.filename)
        if mode == "change" and item.filename == "records/platform-db/streams.jsonl":
            data = data.replace(b"acme", b"acmf", 1)
        zout.writestr(item, data)
    if mode == "add":
        zout.writestr("records/extra.jsonl", b"{}\n")
)PY";
    write_text(dir() / "rewrite.py", rewrite);
    std::string out;
    ASSERT_EQ(run_command("python3 " + (dir() / "rewrite.py").string() + " " + zip.string() + " " +
                          (dir() / "same.zip").string() + " keep"),
              0);
    EXPECT_EQ(gdprctl("export verify " + (dir() / "same.zip").string(), &out), 0) << out;
    ASSERT_EQ(run_command("python3 " + (dir() / "rewrite.py").string() + " " + zip.string() + " " +
                          (dir() / "changed.zip").string() + " change"),
              0);
    EXPECT_EQ(gdprctl("export verify " + (dir() / "changed.zip").string(), &out), 4);
    EXPECT_NE(out.find("records/platform-db/streams.jsonl was changed"), std::string::npos) << out;
    ASSERT_EQ(run_command("python3 " + (dir() / "rewrite.py").string() + " " + zip.string() + " " +
                          (dir() / "added.zip").string() + " add"),
              0);
    EXPECT_EQ(gdprctl("export verify " + (dir() / "added.zip").string(), &out), 4);
    EXPECT_NE(out.find("records/extra.jsonl is not in the manifest"), std::string::npos) << out;
}

TEST_F(ExportTest, ASharedViewersExportHoldsTheirRecordsFromEveryTenantAndNobodyElses) {
    const nlohmann::json* shared = nullptr;
    for (const auto& subject : truth["subjects"])
        if (subject["tenants"].size() > 1) {
            shared = &subject;
            break;
        }
    ASSERT_NE(shared, nullptr);
    const auto& ids = (*shared)["identifiers"];
    // Only the e-mail: the user id and the session IPs are found through the data map's links.
    auto zip = dir() / "person.zip";
    auto report = export_json("--subject email:" + ids["email"].get<std::string>() + " --out " + zip.string());
    EXPECT_EQ(report["linked_identifiers"].get<std::size_t>(), 1 + ids["ip"].size());
    auto counts = counts_of(report);
    for (const auto& [dataset, records] : (*shared)["records"].items())
        EXPECT_EQ(counts[dataset], records.get<std::uint64_t>()) << dataset;
    std::uint64_t total = 0;
    for (const auto& [dataset, records] : counts) total += records;
    std::uint64_t expected = 0;
    for (const auto& [dataset, records] : (*shared)["records"].items()) expected += records.get<std::uint64_t>();
    EXPECT_EQ(total, expected) << "records of other people were exported";
    std::string out;
    ASSERT_EQ(
        run_command("unzip -p " + zip.string() + " | grep -qF " + shell_quote(ids["email"].get<std::string>()), &out),
        0)
        << "the check below would not see an e-mail";
    for (const auto& other : truth["subjects"]) {
        if (&other == shared) continue;
        EXPECT_NE(run_command("unzip -p " + zip.string() + " | grep -qF " +
                                  shell_quote(other["identifiers"]["email"].get<std::string>()),
                              &out),
                  0)
            << "another viewer's e-mail is in the export";
    }
}

TEST_F(ExportTest, AnIpIsNeverFollowedToOtherIdentifiers) {
    const auto& subject = truth["subjects"][0];
    auto ip = subject["identifiers"]["ip"][0].get<std::string>();
    auto report = export_json("--dry-run --subject ip:" + ip);
    EXPECT_EQ(report["linked_identifiers"], 0);
    EXPECT_EQ(counts_of(report).count("platform-db:viewers"), 0u) << "an address led to an account";
}

TEST_F(ExportTest, NothingFoundIsStillAValidArchiveThatSaysSo) {
    auto zip = dir() / "nobody.zip";
    auto report = export_json("--subject email:nobody@example.invalid --out " + zip.string());
    EXPECT_EQ(report["records"], 0);
    std::string readme;
    ASSERT_EQ(run_command("unzip -p " + zip.string() + " README.txt", &readme), 0);
    EXPECT_NE(readme.find("Nothing was found"), std::string::npos) << readme;
    EXPECT_EQ(gdprctl("export verify " + zip.string()), 0);
}

TEST_F(ExportTest, TheReadmeTellsFromTheRegisterHowEachCategoryIsProcessed) {
    auto before = dir() / "before.zip";
    export_json("--tenant acme --out " + before.string());
    std::string readme;
    ASSERT_EQ(run_command("unzip -p " + before.string() + " README.txt", &readme), 0);
    EXPECT_NE(readme.find("ask the controller for them"), std::string::npos) << "no register yet";

    ASSERT_EQ(gdprctl("register import " + std::string(GDPRCTL_SOURCE_DIR) + "/examples/refstack/register.json"), 0);
    auto zip = dir() / "acme.zip";
    auto report = export_json("--tenant acme --out " + zip.string());
    ASSERT_EQ(run_command("unzip -p " + zip.string() + " README.txt", &readme), 0);
    std::set<std::string> categories;
    for (const auto& dataset : report["datasets"]) categories.insert(dataset["category"]);
    for (const auto& category : categories)
        EXPECT_NE(readme.find("Category: " + category + "\n"), std::string::npos) << category << "\n" << readme;
    for (const char* text : {"Access and connection logs", "legal basis:  Art. 6(1)(f) legitimate interests",
                             "kept:         90 days", "CaptionCloud Inc. (US)",
                             "US, standard contractual clauses (Art. 46(2)(c))", "source:       access-log; rtmp-log"})
        EXPECT_NE(readme.find(text), std::string::npos) << text;
    std::string html;
    ASSERT_EQ(run_command("unzip -p " + zip.string() + " README.html", &html), 0);
    EXPECT_NE(html.find("legal basis:  Art. 6(1)(b) performance of a contract"), std::string::npos);
    EXPECT_EQ(gdprctl("export verify " + zip.string()), 0);
}

TEST_F(ExportTest, AnEncryptedExportOpensOnlyWithTheRecipientsIdentity) {
    std::string out;
    ASSERT_EQ(gdprctl("keys keygen --format json --out " + (dir() / "customer.key").string(), &out), 0);
    auto recipient = nlohmann::json::parse(out)["recipient"].get<std::string>();
    auto sealed = dir() / "acme.zip.gdpc";
    export_json("--tenant acme --out " + sealed.string() + " --encrypt-to " + recipient);
    EXPECT_NE(run_command("unzip -tq " + sealed.string()), 0) << "the archive is readable without the key";
    EXPECT_EQ(gdprctl("export verify " + sealed.string() + " -i " + (dir() / "customer.key").string(), &out), 0) << out;
    EXPECT_EQ(gdprctl("export verify " + sealed.string()), 4);
    ASSERT_EQ(gdprctl("container decrypt " + sealed.string() + " -o " + (dir() / "plain.zip").string() + " -i " +
                      (dir() / "customer.key").string()),
              0);
    EXPECT_EQ(run_command("unzip -tq " + (dir() / "plain.zip").string()), 0);
}

TEST_F(ExportTest, APassphraseSealedExportOpensWithThePassphraseOnly) {
    write_text(dir() / "pass", "a passphrase for the customer\n");
    write_text(dir() / "wrong", "not the passphrase\n");
    auto sealed = dir() / "acme.zip.gdpc";
    auto report = export_json("--tenant acme --scrypt-log2n 10 --passphrase-file " + (dir() / "pass").string() +
                              " --out " + sealed.string());
    EXPECT_EQ(report["encrypted"], true);
    std::string out, err;
    EXPECT_EQ(gdprctl("export verify " + sealed.string() + " --passphrase-file " + (dir() / "pass").string(), &out), 0)
        << out;
    // No key given opens it: exit 4, as for any container (gdprctl-container(1)).
    EXPECT_EQ(
        gdprctl("export verify " + sealed.string() + " --passphrase-file " + (dir() / "wrong").string(), &out, &err), 4)
        << err;
    ASSERT_EQ(gdprctl("decrypt " + sealed.string() + " -o " + (dir() / "plain.zip").string() + " --passphrase-file " +
                      (dir() / "pass").string()),
              0);
    EXPECT_EQ(run_command("unzip -tq " + (dir() / "plain.zip").string()), 0);
    std::string reference = std::string(GDPRCTL_SOURCE_DIR) + "/tests/data/container/reference.py";
    EXPECT_EQ(run_command("python3 " + reference + " decrypt-passphrase " + sealed.string() + " " +
                              (dir() / "pass").string() + " | cmp - " + (dir() / "plain.zip").string(),
                          nullptr, &err),
              0)
        << err;
}

// A disk that fills up while the records are spooled on the collecting threads and the files
// stream into the archive on the main one: exit 3, and nothing is left in the output directory.
TEST_F(ExportTest, AFullDiskAtAnyPointIsExit3AndLeavesNothing) {
    auto out_dir = dir() / "out";
    std::filesystem::create_directories(out_dir);
    // The state database exists (and SQLite's 32 KiB shared-memory file fits): only the export's
    // own files reach the limit.
    ASSERT_EQ(gdprctl("journal show"), 0);
    for (const char* kib : {"64", "96"}) {
        std::string out, err;
        // An ignored SIGXFSZ makes writes past the file-size limit fail with EFBIG, as on a full disk.
        int rc = run_command("trap '' XFSZ; ulimit -f " + std::string(kib) + "; " GDPRCTL_BINARY " --config " +
                                 (dir() / "gdprctl.json").string() + " export --tenant acme --out " +
                                 (out_dir / "acme.zip").string(),
                             &out, &err);
        EXPECT_EQ(rc, 3) << kib << " KiB: " << err;
        EXPECT_NE(err.find("File too large"), std::string::npos) << err;
        EXPECT_TRUE(std::filesystem::is_empty(out_dir)) << kib << " KiB left a file behind";
    }
    EXPECT_EQ(gdprctl("export --tenant acme --out " + (out_dir / "acme.zip").string()), 0)
        << "the limit was what failed";
}

TEST_F(ExportTest, ExistingFilesAreKeptAndFailuresLeaveNothing) {
    auto zip = dir() / "a.zip";
    write_text(zip, "precious");
    std::string out, err;
    EXPECT_EQ(gdprctl("export --tenant acme --out " + zip.string(), &out, &err), 2);
    EXPECT_EQ(read_text(zip), "precious");
    EXPECT_EQ(gdprctl("export --tenant acme --force --out " + zip.string()), 0);
    EXPECT_EQ(gdprctl("export verify " + zip.string()), 0);

    EXPECT_EQ(gdprctl("export --tenant acme --out /nonexistent-dir/a.zip", &out, &err), 3) << err;
    auto dry = export_json("--tenant acme --dry-run");
    EXPECT_EQ(dry["dry_run"], true);
    EXPECT_EQ(counts_of(dry)["platform-db:sessions"],
              truth["tenants"]["acme"]["records"]["platform-db:sessions"].get<std::uint64_t>());
    ASSERT_EQ(gdprctl("journal show", &out), 0);
    EXPECT_NE(out.find("export"), std::string::npos);
    EXPECT_EQ(out.find("@"), std::string::npos) << "an identifier reached the journal";
}

}  // namespace
}  // namespace gdprctl::testing
