// Encrypted backups end to end with the real binary on the reference platform: every tenant
// restores exactly (counted against the seeder's truth, files byte for byte, rows compared with
// sqlite3's own output), tampering is caught, a shredded tenant stays unreadable while the
// others restore, retention prunes what it should, and malicious archives write nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/crypto/keystore.hpp"
#include "core/erase/ledger.hpp"
#include "core/state/state_db.hpp"
#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

class BackupTest : public ::testing::Test, protected ReferencePlatform {
protected:
    void init_keys() { ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0); }

    nlohmann::json backup_all(const std::string& extra = "") {
        std::string out, err;
        EXPECT_EQ(gdprctl("backup create --all --format json " + extra, &out, &err), 0) << err;
        return nlohmann::json::parse(out);
    }

    std::filesystem::path backup_of(const nlohmann::json& created, const std::string& tenant) {
        for (const auto& backup : created["backups"])
            if (backup["tenant"] == tenant) return backup["path"].get<std::string>();
        ADD_FAILURE() << "no backup for " << tenant;
        return {};
    }
};

// Records per dataset in a restored tree: lines of records/<source>/<table>/*.jsonl, files under files/<source>/.
std::map<std::string, std::uint64_t> restored_counts(const std::filesystem::path& root) {
    std::map<std::string, std::uint64_t> counts;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        auto relative = std::filesystem::relative(entry.path(), root);
        auto top = relative.begin()->string();
        auto source = std::next(relative.begin())->string();
        if (top == "files") {
            ++counts[source];
        } else if (top == "records") {
            auto parent = relative.parent_path();
            std::string dataset = source;
            if (std::distance(parent.begin(), parent.end()) == 3) dataset += ":" + std::prev(parent.end())->string();
            std::ifstream in(entry.path());
            std::string line;
            while (std::getline(in, line)) ++counts[dataset];
        }
    }
    return counts;
}

std::string sha256_of(const std::filesystem::path& file) {
    std::string out;
    run_command("sha256sum " + shell_quote(file.string()), &out);
    return out.substr(0, 64);
}

std::set<std::string> json_rows(const std::string& json_lines_or_array) {
    std::set<std::string> rows;
    auto text = json_lines_or_array;
    if (!text.empty() && text[0] == '[') {
        for (const auto& row : nlohmann::json::parse(text)) rows.insert(row.dump());
        return rows;
    }
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
        rows.insert(nlohmann::json::parse(text.substr(start, end - start)).dump());
    return rows;
}

bool any_restore_staging_left(const std::filesystem::path& parent) {
    for (const auto& entry : std::filesystem::directory_iterator(parent))
        if (entry.path().filename().string().rfind(".gdprctl-restore-", 0) == 0) return true;
    return false;
}

TEST_F(BackupTest, EveryTenantRestoresExactlyWhatTheStoresHold) {
    init_keys();
    auto created = backup_all();
    std::string out;
    ASSERT_EQ(gdprctl("backup verify --all", &out), 0) << out;

    for (const auto& [tenant, facts] : truth["tenants"].items()) {
        auto target = dir() / ("restored-" + tenant);
        ASSERT_EQ(gdprctl("backup restore " + backup_of(created, tenant).string() + " --to " + target.string(), &out),
                  0)
            << out;
        auto counts = restored_counts(target);
        for (const auto& [dataset, records] : facts["records"].items())
            EXPECT_EQ(counts[dataset], records.get<std::uint64_t>()) << tenant << " " << dataset;

        // Files byte for byte, each where the original lives.
        std::size_t files = 0;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(target / "files")) {
            if (!entry.is_regular_file()) continue;
            auto relative = std::filesystem::relative(entry.path(), target / "files");
            EXPECT_EQ(sha256_of(entry.path()), sha256_of(dir() / relative)) << relative;
            EXPECT_EQ(std::filesystem::status(entry.path()).permissions() & std::filesystem::perms::all,
                      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
            ++files;
        }
        EXPECT_GT(files, 0u) << tenant;

        // Rows as the database itself renders them.
        auto rows = database().rows_json("SELECT * FROM administrators WHERE tenant_id = '" + tenant + "'");
        EXPECT_EQ(json_rows(read_text(target / "records/platform-db/administrators/000001.jsonl")), json_rows(rows));
    }
    // Platform-wide data (viewers) goes into its own archive under the platform key.
    auto platform = dir() / "restored-platform";
    ASSERT_EQ(gdprctl("backup restore " + backup_of(created, "").string() + " --to " + platform.string()), 0);
    auto viewers = database().rows_json("SELECT * FROM viewers");
    EXPECT_EQ(json_rows(read_text(platform / "records/platform-db/viewers/000001.jsonl")), json_rows(viewers));
}

TEST_F(BackupTest, BackupFilesArePrivateAndHoldNoPlaintext) {
    init_keys();
    auto created = backup_all();
    auto file = backup_of(created, "acme");
    EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto email = truth["subjects"][0]["identifiers"]["email"].get<std::string>();
    std::string out;
    EXPECT_NE(run_command("grep -rlF " + shell_quote(email) + " " + (dir() / "backups").string(), &out), 0) << out;
    EXPECT_NE(run_command("grep -rlF 'access.log' " + (dir() / "backups").string(), &out), 0) << out;
}

TEST_F(BackupTest, ATamperedBackupFailsVerificationAndRestoresNothing) {
    init_keys();
    auto created = backup_all();
    auto file = backup_of(created, "bluebird");
    {
        // One bit flipped: writing a fixed byte left the file as it was whenever the ciphertext
        // held that byte there already (one run in 256).
        std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
        auto middle = static_cast<std::streamoff>(std::filesystem::file_size(file) / 2);
        stream.seekg(middle);
        char byte = 0;
        stream.get(byte);
        stream.seekp(middle);
        stream.put(static_cast<char>(byte ^ 0x01));
    }
    std::string out, err;
    EXPECT_EQ(gdprctl("backup verify --all", &out), 4) << out;
    EXPECT_NE(out.find("corrupt  " + file.string()), std::string::npos) << out;
    EXPECT_NE(out.find("ok  " + backup_of(created, "acme").string()), std::string::npos) << out;

    auto target = dir() / "restored";
    EXPECT_EQ(gdprctl("backup restore " + file.string() + " --to " + target.string(), &out, &err), 4);
    EXPECT_NE(err.find("does not authenticate"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(target));
    EXPECT_FALSE(any_restore_staging_left(dir()));
}

TEST_F(BackupTest, AShreddedTenantCannotBeRestoredWhileTheOthersCan) {
    init_keys();
    auto created = backup_all();
    std::string wrapped;
    ASSERT_EQ(run_command("sqlite3 " + (dir() / ".gdprctl/state.db").string() +
                              " \"SELECT hex(wrapped) FROM keys WHERE tenant = 'acme'\"",
                          &wrapped),
              0);
    ASSERT_EQ(wrapped.size(), 2 * 60 + 1);

    auto copies_of_wrapped_key = [&] {
        std::string found;
        run_command("cat " + (dir() / ".gdprctl").string() + "/state.db* | od -An -v -tx1 | tr -d ' \\n' | grep -oi " +
                        wrapped.substr(0, 48) + " | wc -l",
                    &found);
        return std::stoi(found);
    };
    ASSERT_GT(copies_of_wrapped_key(), 0) << "the check below would not see the key";

    std::string out, err;
    EXPECT_EQ(gdprctl("keys destroy --tenant acme", &out, &err), 2) << "destroy must need --yes";
    EXPECT_EQ(gdprctl("keys destroy --tenant acme --dry-run", &out), 0);
    EXPECT_NE(out.find("Would destroy 1 key(s)"), std::string::npos) << out;
    ASSERT_EQ(gdprctl("backup verify " + backup_of(created, "acme").string(), &out), 0) << "dry run destroyed";
    ASSERT_EQ(gdprctl("keys destroy --tenant acme --yes", &out, &err), 0) << err;

    // No copy of the wrapped key is left in the database file or its WAL.
    EXPECT_EQ(copies_of_wrapped_key(), 0);

    ASSERT_EQ(gdprctl("backup list --format json", &out), 0);
    auto listed = nlohmann::json::parse(out);
    for (const auto& backup : listed["backups"])
        EXPECT_EQ(backup["status"], backup["tenant"] == "acme" ? "shredded" : "readable") << backup.dump();
    EXPECT_EQ(gdprctl("backup verify --all", &out), 0) << out;
    EXPECT_NE(out.find("shredded  " + backup_of(created, "acme").string()), std::string::npos) << out;
    EXPECT_EQ(gdprctl("backup verify " + backup_of(created, "acme").string(), &out), 4)
        << "a shredded backup named on the command line cannot be verified: " << out;

    EXPECT_EQ(gdprctl("backup restore " + backup_of(created, "acme").string() + " --to " + (dir() / "a").string(), &out,
                      &err),
              4);
    EXPECT_NE(err.find("shredded"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(dir() / "a"));
    EXPECT_EQ(gdprctl("backup restore " + backup_of(created, "bluebird").string() + " --to " + (dir() / "b").string()),
              0);

    // Its data still in the stores is not backed up under a fresh key: the operator is told.
    EXPECT_EQ(gdprctl("backup create --all --now " + std::to_string(k_now + 86400) + "", &out, &err), 1) << err;
    EXPECT_NE(out.find("NOT backed up: tenant acme"), std::string::npos) << out;
    ASSERT_EQ(gdprctl("journal show", &out), 0);
    EXPECT_NE(out.find("keys destroy"), std::string::npos) << out;
}

TEST_F(BackupTest, PruneKeepsNinetyDaysAndEachTenantsLastGoodBackup) {
    init_keys();
    std::string out, err;
    ASSERT_EQ(gdprctl("backup create --all -q --now " + std::to_string(k_now - 100 * 86400)), 0);
    ASSERT_EQ(gdprctl("backup create --tenant bluebird -q --now " + std::to_string(k_now - 10 * 86400)), 0);
    ASSERT_EQ(gdprctl("backup list --format json", &out), 0);
    ASSERT_EQ(nlohmann::json::parse(out)["backups"].size(), 6u);

    ASSERT_EQ(gdprctl("backup prune --dry-run --format json --now " + std::to_string(k_now), &out, &err), 0) << err;
    auto plan = nlohmann::json::parse(out);
    std::map<std::string, int> removed;
    for (const auto& decision : plan["decisions"])
        removed[decision["tenant"].get<std::string>()] += decision["remove"].get<bool>();
    EXPECT_EQ(removed["bluebird"], 1);  // the old one: a newer good one exists
    EXPECT_EQ(removed["acme"], 0);      // its only backup, kept although older than 90 days
    ASSERT_EQ(gdprctl("backup list --format json", &out), 0);
    EXPECT_EQ(nlohmann::json::parse(out)["backups"].size(), 6u) << "a dry run removed something";

    ASSERT_EQ(gdprctl("keys destroy --tenant acme --yes -q"), 0);
    ASSERT_EQ(gdprctl("backup prune --now " + std::to_string(k_now), &out, &err), 0) << err;
    ASSERT_EQ(gdprctl("backup list --format json", &out), 0);
    std::map<std::string, int> left;
    auto listed = nlohmann::json::parse(out);
    for (const auto& backup : listed["backups"]) ++left[backup["tenant"].get<std::string>()];
    EXPECT_EQ(left["bluebird"], 1);
    EXPECT_EQ(left["acme"], 0) << "a shredded tenant has no good backup to keep";
    EXPECT_EQ(left["cafemuller"], 1);
    ASSERT_EQ(gdprctl("backup prune --no-keep-last --now " + std::to_string(k_now), &out), 0);
    ASSERT_EQ(gdprctl("backup list --format json", &out), 0);
    EXPECT_EQ(nlohmann::json::parse(out)["backups"].size(), 1u) << out;  // bluebird's 10-day-old one
}

TEST_F(BackupTest, APassphraseProtectsTheMasterKeyAndRotationKeepsBackupsReadable) {
    write_text(dir() / "pass1", "correct horse battery staple\n");
    write_text(dir() / "pass2", "a different passphrase\n");
    std::string out, err;
    ASSERT_EQ(gdprctl("keys init --scrypt-log2n 10 --passphrase-file " + (dir() / "pass1").string(), &out, &err), 0)
        << err;
    EXPECT_EQ(gdprctl("backup create --all --passphrase-file " + (dir() / "pass2").string(), &out, &err), 2);
    EXPECT_NE(err.find("wrong passphrase"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(dir() / "backups" / "acme"));
    EXPECT_EQ(gdprctl("backup create --all -q --passphrase-file " + (dir() / "pass1").string()), 0);
    EXPECT_EQ(run_command("GDPRCTL_PASSPHRASE_FILE=" + (dir() / "pass1").string() + " " + GDPRCTL_BINARY +
                          " --config " + (dir() / "gdprctl.json").string() + " backup verify --all -q"),
              0);

    ASSERT_EQ(gdprctl("keys rotate --scrypt-log2n 10 --passphrase-file " + (dir() / "pass1").string() +
                          " --new-passphrase-file " + (dir() / "pass2").string(),
                      &out, &err),
              0)
        << err;
    EXPECT_EQ(gdprctl("backup verify --all --passphrase-file " + (dir() / "pass2").string(), &out), 0) << out;
    EXPECT_EQ(gdprctl("backup verify --all --passphrase-file " + (dir() / "pass1").string(), &out, &err), 2);
    // The passphrase never reaches argv, the journal or the state database.
    EXPECT_NE(run_command("grep -c 'horse battery' " + (dir() / ".gdprctl").string() + "/state.db*", &out), 0);
}

TEST_F(BackupTest, MaliciousArchivesAreRefusedAndWriteNothing) {
    init_keys();
    // Archives a restore must refuse, written with Python's tarfile (not gdprctl's writer).
    auto script = R"PY(
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
    def add(name, data=b"pwned\n"):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    add("records/ok.jsonl", b"{}\n")
    if kind == "dotdot": add("records/../../evil.txt")
    if kind == "absolute": add(sys.argv[3] + "/evil.txt")
    if kind in ("symlink", "hardlink"):
        info = tarfile.TarInfo("files/link")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = sys.argv[3]
        tar.addfile(info)
        add("files/link/evil.txt")
    if kind == "device":
        info = tarfile.TarInfo("files/dev"); info.type = tarfile.CHRTYPE; info.devmajor = 1; info.devminor = 3
        tar.addfile(info)
)PY";
    write_text(dir() / "make_tar.py", script);
    auto outside = dir() / "outside";
    std::filesystem::create_directory(outside);
    for (std::string kind : {"dotdot", "absolute", "symlink", "hardlink", "device"}) {
        auto tar = dir() / (kind + ".tar");
        auto sealed = dir() / (kind + ".gdpb");
        ASSERT_EQ(run_command("python3 " + (dir() / "make_tar.py").string() + " " + kind + " " + tar.string() + " " +
                              outside.string()),
                  0);
        ASSERT_EQ(gdprctl("container encrypt --platform-key -q " + tar.string() + " -o " + sealed.string()), 0);
        write_backup_manifest(sealed, tar);
        auto target = dir() / "restore" / kind;
        std::string out, err;
        EXPECT_EQ(gdprctl("backup restore " + sealed.string() + " --to " + target.string(), &out, &err), 4) << kind;
        EXPECT_NE(err.find("refused"), std::string::npos) << kind << ": " << err;
        EXPECT_FALSE(std::filesystem::exists(target)) << kind;
        EXPECT_TRUE(std::filesystem::is_empty(outside)) << kind;
        EXPECT_FALSE(std::filesystem::exists(dir() / "evil.txt")) << kind;
        EXPECT_FALSE(any_restore_staging_left(dir() / "restore")) << kind;
    }
}

TEST_F(BackupTest, ARestoreLeavesOutPeopleErasedAfterTheBackup) {
    init_keys();
    auto created = backup_all();
    const auto& subject = truth["subjects"][0];
    auto email = subject["identifiers"]["email"].get<std::string>();
    auto ip = subject["identifiers"]["ip"][0].get<std::string>();
    {
        state::StateDb state(dir() / ".gdprctl");
        crypto::Keystore keystore(state);
        keystore.unlock({std::nullopt, std::nullopt});
        erase::ErasureLedger ledger(state, keystore);
        ledger.record_subject("email", email);
        ledger.record_subject("ip", ip);
        ledger.record_subject("user", subject["identifiers"]["user"].get<std::string>());
    }
    std::string ledger_dump;
    run_command("sqlite3 " + (dir() / ".gdprctl/state.db").string() + " 'SELECT * FROM erasure_ledger'", &ledger_dump);
    EXPECT_EQ(ledger_dump.find(email), std::string::npos) << "the ledger holds identifiers in clear";

    auto tenant = subject["tenants"][0].get<std::string>();
    auto target = dir() / "restored";
    std::string out;
    ASSERT_EQ(
        gdprctl("backup restore --format json " + backup_of(created, tenant).string() + " --to " + target.string(),
                &out),
        0);
    EXPECT_GT(nlohmann::json::parse(out)["records_left_out"].get<std::uint64_t>(), 0u);
    EXPECT_NE(run_command("grep -rlwF " + shell_quote(ip) + " " + target.string(), &out), 0) << out;
    auto counts = restored_counts(target);
    EXPECT_GT(counts["access-log"], 0u) << "everyone else's records must stay";
    EXPECT_LT(counts["access-log"], truth["tenants"][tenant]["records"]["access-log"].get<std::uint64_t>());

    auto platform = dir() / "restored-platform";
    ASSERT_EQ(gdprctl("backup restore " + backup_of(created, "").string() + " --to " + platform.string()), 0);
    EXPECT_NE(run_command("grep -rlF " + shell_quote(email) + " " + platform.string(), &out), 0) << out;
}

TEST_F(BackupTest, AnX25519ContainerDecryptsWithTheIndependentReference) {
    std::string recipient, err;
    ASSERT_EQ(gdprctl("keys keygen --format json --out " + (dir() / "customer.key").string(), &recipient), 0);
    auto public_key = nlohmann::json::parse(recipient)["recipient"].get<std::string>();
    ASSERT_EQ(run_command("head -c 300000 /dev/urandom > " + (dir() / "plain.bin").string()), 0);
    ASSERT_EQ(std::filesystem::file_size(dir() / "plain.bin"), 300000u);
    ASSERT_EQ(gdprctl("container encrypt -q " + (dir() / "plain.bin").string() + " -o " +
                      (dir() / "plain.gdpc").string() + " -r " + public_key),
              0);
    std::string reference = std::string(GDPRCTL_SOURCE_DIR) + "/tests/data/container/reference.py";
    EXPECT_EQ(run_command("python3 " + reference + " decrypt-x25519 " + (dir() / "plain.gdpc").string() + " " +
                              (dir() / "customer.key").string() + " | cmp - " + (dir() / "plain.bin").string(),
                          nullptr, &err),
              0)
        << err;
}

TEST_F(BackupTest, BackupWithoutAMasterKeySaysHowToCreateOne) {
    std::string out, err;
    EXPECT_EQ(gdprctl("backup create --all", &out, &err), 2);
    EXPECT_NE(err.find("keys init"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(dir() / "backups"));
}

}  // namespace
}  // namespace gdprctl::testing
