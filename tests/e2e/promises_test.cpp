// What the man pages promise of keys, containers, backups and certificates, each kept with the
// real binary on the reference platform and checked from outside (sqlite3, openssl, python's
// tarfile and the independent reference decoder): a tenant's public key opens with its
// keystore, certificates cannot be forged with duplicate members nor their hashes reversed,
// exit codes are the pages', restore holds a backup to its manifest as verify does, outputs
// never replace or follow links, and nothing unauthenticated reaches a terminal raw.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

class Promises : public ::testing::Test, protected ReferencePlatform {
protected:
    void init_keys() { ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0); }

    std::string sqlite(const std::string& sql) const {
        std::string out;
        EXPECT_EQ(run_command("sqlite3 " + shell_quote((dir() / ".gdprctl/state.db").string()) + " " + shell_quote(sql),
                              &out),
                  0);
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }

    std::string trimmed_output(const std::string& args) const {
        std::string out, err;
        EXPECT_EQ(gdprctl(args, &out, &err), 0) << err;
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }

    // A tar written by Python's tarfile, with a gdprctl-counts.json as a backup's last entry.
    void write_tar(const std::filesystem::path& tar, const std::string& entries_python) const {
        write_text(dir() / "make_tar.py",
                   "import io, sys, tarfile\n"
                   "with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as tar:\n"
                   "    def add(name, data=b'{}\\n'):\n"
                   "        info = tarfile.TarInfo(name); info.size = len(data)\n"
                   "        tar.addfile(info, io.BytesIO(data))\n" +
                       entries_python + "    add('gdprctl-counts.json', b'{}\\n')\n");
        ASSERT_EQ(run_command("python3 " + shell_quote((dir() / "make_tar.py").string()) + " " + tar.string()), 0);
    }

    // gdprctl-container(5) documents the keystore's wrapping: with it, the state database and
    // the master key, the reference decoder opens a backup, and its digest is the manifest's.
    void expect_reference_opens_backup(const std::string& master, const std::string& unlock) const {
        std::string out, err;
        ASSERT_EQ(gdprctl("--format json backup create --tenant acme" + unlock, &out, &err), 0) << err;
        auto backup = nlohmann::json::parse(out)["backups"][0]["path"].get<std::string>();
        auto manifest = nlohmann::json::parse(read_text(backup + ".json"));
        auto reference = std::string(GDPRCTL_SOURCE_DIR) + "/tests/data/container/reference.py";
        ASSERT_EQ(run_command("python3 " + reference + " decrypt-keystore " + backup + " " +
                                  (dir() / ".gdprctl/state.db").string() + " " + master + " | sha256sum",
                              &out, &err),
                  0)
            << err;
        EXPECT_EQ(out.substr(0, 64), manifest["plaintext_sha256"].get<std::string>());
    }

    std::filesystem::path erase_with_certificate(const std::string& subjects) const {
        auto file = dir() / "cert.json";
        std::string out, err;
        EXPECT_EQ(gdprctl("erase --yes " + subjects + " --certificate " + file.string(), &out, &err), 0) << out << err;
        return file;
    }
};

bool has_control_bytes(const std::string& text) {
    for (unsigned char c : text)
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
    return false;
}

// ---- 1. what is sealed to a tenant's public key opens with the workspace keystore ----

TEST_F(Promises, DataSealedToATenantsPublicKeyOpensWithTheKeystoreInEveryReader) {
    init_keys();
    auto recipient = trimmed_output("keys export-public --tenant acme");
    ASSERT_EQ(recipient.rfind("gdprctl-x25519:", 0), 0u) << recipient;
    ASSERT_EQ(run_command("head -c 200000 /dev/urandom > " + (dir() / "plain.bin").string()), 0);
    auto sealed = dir() / "x.gdpc";
    ASSERT_EQ(gdprctl("container encrypt -q " + (dir() / "plain.bin").string() + " -o " + sealed.string() + " -r " +
                      recipient),
              0);
    std::string out, err;
    EXPECT_EQ(gdprctl("container decrypt " + sealed.string() + " -o " + (dir() / "a.bin").string(), &out, &err), 0)
        << err;
    EXPECT_EQ(gdprctl("decrypt " + sealed.string() + " -o " + (dir() / "b.bin").string(), &out, &err), 0) << err;
    EXPECT_EQ(run_command("cmp " + (dir() / "plain.bin").string() + " " + (dir() / "a.bin").string() + " && cmp " +
                          (dir() / "plain.bin").string() + " " + (dir() / "b.bin").string()),
              0);

    // A backup-shaped archive sealed to the same key restores.
    auto tar = dir() / "archive.tar";
    write_tar(tar, "    add('records/platform-db/users/000001.jsonl', b'{\"id\": 1}\\n')\n");
    auto archive = dir() / "archive.gdpb";
    ASSERT_EQ(gdprctl("container encrypt -q " + tar.string() + " -o " + archive.string() + " -r " + recipient), 0);
    write_backup_manifest(archive, tar);
    EXPECT_EQ(gdprctl("backup restore " + archive.string() + " --to " + (dir() / "restored").string(), &out, &err), 0)
        << err;
    EXPECT_EQ(read_text(dir() / "restored/records/platform-db/users/000001.jsonl"), "{\"id\": 1}\n");

    // Once acme's keys are destroyed, nothing opens it.
    ASSERT_EQ(gdprctl("keys destroy --tenant acme --yes -q"), 0);
    EXPECT_EQ(gdprctl("container decrypt " + sealed.string() + " -o " + (dir() / "c.bin").string(), &out, &err), 4);
    EXPECT_FALSE(std::filesystem::exists(dir() / "c.bin"));
}

// ---- 2. and 3. certificates: no duplicate members, identifiers as keyed hashes ----

TEST_F(Promises, ACertificateWithADuplicateMemberIsRefusedByVerifyShowAndTheDocumentedRecipe) {
    const auto& subject = truth["subjects"][0];
    auto file = erase_with_certificate("--subject " +
                                       shell_quote("email:" + subject["identifiers"]["email"].get<std::string>()));
    auto text = read_text(file);
    auto at = text.find("\"result\": \"no residue\"");
    ASSERT_NE(at, std::string::npos) << text;
    text.insert(at, "\"result\": \"RESIDUE FOUND\",\n    ");
    write_text(dir() / "forged.json", text);
    std::string out, err;
    EXPECT_EQ(gdprctl("certificate verify " + (dir() / "forged.json").string(), &out, &err), 4) << out;
    EXPECT_NE(out.find("\"result\" appears twice"), std::string::npos) << out;
    EXPECT_EQ(gdprctl("--format json certificate verify " + (dir() / "forged.json").string(), &out), 4);
    EXPECT_FALSE(nlohmann::json::parse(out)["valid"].get<bool>());
    EXPECT_EQ(gdprctl("certificate show --format md " + (dir() / "forged.json").string(), &out, &err), 4) << out;
    EXPECT_EQ(out.find("RESIDUE"), std::string::npos);

    // gdprctl-certificate(1)'s recipe without gdprctl: the same document fails there too.
    auto recipe = [&](const std::string& name) {
        return run_command(
            "cd " + shell_quote(dir().string()) +
            " && python3 -c 'import json,sys\n"
            "def pairs(items):\n"
            "    names = [k for k, _ in items]\n"
            "    if len(names) != len(set(names)): sys.exit(\"duplicate member\")\n"
            "    return dict(items)\n"
            "c = json.load(open(sys.argv[1]), object_pairs_hook=pairs)[\"certificate\"]\n"
            "sys.stdout.write(json.dumps(c, sort_keys=True, separators=(\",\",\":\"), ensure_ascii=False))' " +
            name + " > signed.bin && jq -r .signature.value " + name + " | base64 -d > sig.bin && jq -r " +
            ".signature.public_key " + name +
            " > pub.pem && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in signed.bin -sigfile sig.bin");
    };
    EXPECT_EQ(recipe("cert.json"), 0);
    EXPECT_NE(recipe("forged.json"), 0);
}

TEST_F(Promises, CertificateIdentifiersAreKeyedHashesThatOnlyTheKeyHoldersCanTest) {
    const auto& subject = truth["subjects"][0];
    auto email = subject["identifiers"]["email"].get<std::string>();
    auto file = erase_with_certificate("--subject " + shell_quote("email:" + email));
    auto erased = nlohmann::json::parse(read_text(file))["certificate"]["erased"];
    auto salt = erased["salt"].get<std::string>();
    std::set<std::string> hashes;
    for (const auto& id : erased["identifiers"]) hashes.insert(id["hmac_sha256"].get<std::string>());
    ASSERT_FALSE(hashes.empty()) << erased.dump(2);
    EXPECT_FALSE(erased.contains("salted_sha256"));

    std::string lowered = email;
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
    auto message = shell_quote(salt + "email:" + lowered);
    std::string plain, keyed;
    ASSERT_EQ(run_command("printf %s " + message + " | sha256sum", &plain), 0);
    EXPECT_EQ(hashes.count(plain.substr(0, 64)), 0u) << "the salt beside a plain hash lets anyone test guesses";
    auto key_file = dir() / ".gdprctl/identifier-hash.key";
    ASSERT_EQ(run_command("printf %s " + message + " | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(cat " +
                              key_file.string() + ") -r",
                          &keyed),
              0);
    EXPECT_EQ(hashes.count(keyed.substr(0, 64)), 1u) << "an auditor given the key file recomputes the hash";
    EXPECT_EQ(std::filesystem::status(key_file).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(read_text(file).find(lowered), std::string::npos);

    std::string out, err;
    EXPECT_EQ(gdprctl("certificate match " + file.string() + " --subject " + shell_quote("email:" + email), &out, &err),
              0)
        << out << err;
    EXPECT_NE(out.find("named"), std::string::npos);
    EXPECT_EQ(out.find(lowered), std::string::npos) << "the identifier is not printed back";
    EXPECT_EQ(gdprctl("certificate match " + file.string() + " --subject email:somebody-else@example.org", &out), 1)
        << out;
    EXPECT_NE(out.find("NOT named"), std::string::npos) << out;
}

// ---- 4. exit codes as the man pages give them ----

TEST_F(Promises, ShreddedBackupsAndWrongPassphrasesExitFour) {
    init_keys();
    std::string out, err;
    ASSERT_EQ(gdprctl("--format json backup create --tenant acme", &out, &err), 0) << err;
    auto backup = nlohmann::json::parse(out)["backups"][0]["path"].get<std::string>();
    ASSERT_EQ(gdprctl("keys destroy --tenant acme --yes -q"), 0);
    EXPECT_EQ(gdprctl("backup verify " + backup, &out), 4) << out;
    EXPECT_NE(out.find("shredded"), std::string::npos) << out;
    EXPECT_EQ(gdprctl("backup verify --all", &out), 0) << "--all passes over shredded backups: " << out;
    EXPECT_NE(out.find("1 shredded"), std::string::npos) << out;

    write_text(dir() / "pass", "correct horse battery staple\n");
    write_text(dir() / "wrong", "correct horse battery stapler\n");
    write_text(dir() / "plain.txt", "data\n");
    auto sealed = dir() / "p.gdpc";
    ASSERT_EQ(gdprctl("container encrypt -q " + (dir() / "plain.txt").string() + " -o " + sealed.string() +
                      " --passphrase-file " + (dir() / "pass").string()),
              0);
    EXPECT_EQ(gdprctl("container decrypt " + sealed.string() + " -o - --passphrase-file " + (dir() / "wrong").string(),
                      &out, &err),
              4)
        << err;
    EXPECT_EQ(gdprctl("decrypt " + sealed.string() + " -o - --passphrase-file " + (dir() / "wrong").string(), &out), 4);
    // One bit of the stanza's scrypt salt flipped (offset: the 36-byte preamble, no tenant, the
    // 32-byte salt, the count, the stanza's type and length).
    auto bytes = read_text(sealed);
    bytes[36 + 32 + 1 + 3] ^= 1;
    write_text(dir() / "modified.gdpc", bytes);
    EXPECT_EQ(gdprctl("decrypt " + (dir() / "modified.gdpc").string() + " -o - --passphrase-file " +
                          (dir() / "pass").string(),
                      &out, &err),
              4)
        << err;
    EXPECT_EQ(gdprctl("decrypt " + sealed.string() + " -o - --passphrase-file " + (dir() / "pass").string(), &out), 0);
    EXPECT_EQ(out, "data\n");
}

// ---- 5. restore holds a backup to its manifest exactly as verify does ----

TEST_F(Promises, RestoreRefusesWhatVerifyRefusesInTheManifest) {
    init_keys();
    std::string out, err;
    ASSERT_EQ(gdprctl("--format json backup create --tenant acme", &out, &err), 0) << err;
    std::filesystem::path backup = nlohmann::json::parse(out)["backups"][0]["path"].get<std::string>();
    auto manifest_file = backup.string() + ".json";
    auto original = read_text(manifest_file);
    auto manifest = nlohmann::json::parse(original);
    ASSERT_FALSE(manifest["counts"].empty());
    auto first_dataset = manifest["counts"].begin().key();

    auto changed = [&](auto change) {
        auto copy = manifest;
        change(copy);
        return copy.dump(2);
    };
    std::vector<std::pair<std::string, std::optional<std::string>>> variants = {
        {"missing", std::nullopt},
        {"not JSON", "{\"tenant\": \"acme\", "},
        {"plaintext_bytes + 1",
         changed([](nlohmann::json& m) { m["plaintext_bytes"] = m["plaintext_bytes"].get<std::uint64_t>() + 1; })},
        {"a count + 1",
         changed([&](nlohmann::json& m) { m["counts"][first_dataset] = m["counts"][first_dataset].get<int>() + 1; })},
        {"another tenant", changed([](nlohmann::json& m) { m["tenant"] = "bluebird"; })},
        {"another key id", changed([](nlohmann::json& m) { m["key_id"] = std::string(32, '0'); })},
        {"no counts", changed([](nlohmann::json& m) { m.erase("counts"); })}};
    int n = 0;
    for (const auto& [what, text] : variants) {
        std::filesystem::remove(manifest_file);
        if (text) write_text(manifest_file, *text);
        auto target = dir() / ("restore-" + std::to_string(++n));
        EXPECT_EQ(gdprctl("backup verify " + backup.string(), &out, &err), 4) << what << ": " << out;
        EXPECT_EQ(gdprctl("backup restore " + backup.string() + " --to " + target.string(), &out, &err), 4)
            << what << ": " << out << err;
        EXPECT_NE(err.find("manifest"), std::string::npos) << what << ": " << err;
        EXPECT_FALSE(std::filesystem::exists(target)) << what;
    }
    write_text(manifest_file, original);
    EXPECT_EQ(gdprctl("backup verify " + backup.string(), &out), 0) << out;
    EXPECT_EQ(gdprctl("backup restore " + backup.string() + " --to " + (dir() / "restored").string(), &out, &err), 0)
        << err;
}

// ---- 6. stanza rules: gdprctl and the independent reference agree on the shipped vectors ----

TEST_F(Promises, TheReferenceDecoderAndGdprctlAgreeOnTheStanzaVectors) {
    auto vectors = std::filesystem::path(GDPRCTL_SOURCE_DIR) / "tests/data/container";
    auto reference = "python3 " + (vectors / "reference.py").string();
    auto identity = (vectors / "identity.txt").string();
    auto low_order = (vectors / "low-order-first.gdpc").string();
    auto mixed = (vectors / "passphrase-beside-x25519.gdpc").string();
    auto plain = (vectors / "plaintext.bin").string();
    EXPECT_EQ(run_command(reference + " decrypt-x25519 " + low_order + " " + identity + " | cmp - " + plain), 0);
    std::string out, err;
    EXPECT_EQ(gdprctl("container decrypt " + low_order + " -i " + identity + " -o " + (dir() / "low.bin").string(),
                      &out, &err),
              0)
        << err;
    EXPECT_EQ(run_command("cmp " + (dir() / "low.bin").string() + " " + plain), 0);
    EXPECT_NE(run_command(reference + " decrypt-x25519 " + mixed + " " + identity, &out, &err), 0);
    EXPECT_NE(err.find("passphrase stanza"), std::string::npos) << err;
    EXPECT_EQ(
        gdprctl("container decrypt " + mixed + " -i " + identity + " -o " + (dir() / "mixed.bin").string(), &out, &err),
        4);
    EXPECT_NE(err.find("passphrase stanza"), std::string::npos) << err;
    EXPECT_EQ(gdprctl("container inspect " + mixed, &out, &err), 4);
    EXPECT_FALSE(std::filesystem::exists(dir() / "mixed.bin"));
    // The vectors are what the reference writes, byte for byte.
    ASSERT_EQ(
        run_command("cp " + identity + " " + plain + " " + dir().string() + " && " + reference + " stanza-vectors " +
                    dir().string() + " && cmp " + low_order + " " + (dir() / "low-order-first.gdpc").string() +
                    " && cmp " + mixed + " " + (dir() / "passphrase-beside-x25519.gdpc").string()),
        0);
}

TEST_F(Promises, TheReferenceDecoderOpensABackupWithTheStateDatabaseAndAMasterKeyFile) {
    init_keys();
    expect_reference_opens_backup((dir() / "master.key").string(), "");
}

TEST_F(Promises, TheReferenceDecoderOpensABackupWithTheStateDatabaseAndAMasterPassphrase) {
    auto pass = (dir() / "master.pass").string();
    write_text(pass, "  a passphrase with spaces kept \r\n");
    ASSERT_EQ(gdprctl("keys init --scrypt-log2n 12 --passphrase-file " + pass + " -q"), 0);
    expect_reference_opens_backup("passphrase:" + pass, " --passphrase-file " + pass);
}

// ---- 7. "never overwritten": not through a link, not over one, not in a race ----

TEST_F(Promises, NoOutputReplacesOrFollowsASymbolicLink) {
    init_keys();
    write_text(dir() / "plain.txt", "data\n");
    write_text(dir() / "precious", "kept\n");
    std::filesystem::create_symlink(dir() / "nowhere", dir() / "dangling");
    std::filesystem::create_symlink(dir() / "precious", dir() / "link");
    auto identity = dir() / "id.key";
    auto recipient = nlohmann::json::parse(trimmed_output("--format json keys keygen --out " + identity.string()));
    std::string out, err;
    for (const char* name : {"dangling", "link"}) {
        auto target = (dir() / name).string();
        EXPECT_EQ(gdprctl("container encrypt " + (dir() / "plain.txt").string() + " -o " + target + " -r " +
                              recipient["recipient"].get<std::string>(),
                          &out, &err),
                  2)
            << name;
        EXPECT_NE(err.find("symbolic link"), std::string::npos) << err;
        EXPECT_EQ(gdprctl("export --tenant acme --out " + target, &out, &err), 2) << name << err;
        EXPECT_EQ(gdprctl("keys keygen --out " + target, &out, &err), 2) << name;
        EXPECT_TRUE(std::filesystem::is_symlink(dir() / name)) << name;
    }
    EXPECT_FALSE(std::filesystem::exists(dir() / "nowhere"));
    EXPECT_EQ(read_text(dir() / "precious"), "kept\n");

    ASSERT_EQ(gdprctl("--format json backup create --tenant acme", &out, &err), 0) << err;
    auto backup = nlohmann::json::parse(out)["backups"][0]["path"].get<std::string>();
    std::filesystem::create_directory(dir() / "empty");
    std::filesystem::create_directory_symlink(dir() / "empty", dir() / "to-empty");
    EXPECT_EQ(gdprctl("backup restore " + backup + " --to " + (dir() / "to-empty").string(), &out, &err), 2) << err;
    EXPECT_NE(err.find("symbolic link"), std::string::npos) << err;
    EXPECT_TRUE(std::filesystem::is_symlink(dir() / "to-empty"));
    EXPECT_TRUE(std::filesystem::is_empty(dir() / "empty"));
    EXPECT_EQ(gdprctl("backup restore " + backup + " --to " + (dir() / "empty").string(), &out, &err), 0) << err;
    EXPECT_FALSE(std::filesystem::is_empty(dir() / "empty"));
}

TEST_F(Promises, AnErasureWhoseCertificateFileIsTakenIsRefusedBeforeAnythingIsErased) {
    const auto& subject = truth["subjects"][0];
    auto email = "email:" + subject["identifiers"]["email"].get<std::string>();
    write_text(dir() / "cert.json", "someone's notes\n");
    auto before = scanned_records(dir());
    std::string out, err;
    EXPECT_EQ(
        gdprctl("erase --yes --subject " + shell_quote(email) + " --certificate " + (dir() / "cert.json").string(),
                &out, &err),
        2)
        << out << err;
    EXPECT_NE(err.find("cert.json exists"), std::string::npos) << err;
    EXPECT_EQ(read_text(dir() / "cert.json"), "someone's notes\n");
    EXPECT_EQ(scanned_records(dir()), before) << "nothing may be erased";
    ASSERT_EQ(gdprctl("erase list", &out), 0);
    EXPECT_EQ(out.find("er-"), std::string::npos) << "no request was started: " << out;
}

// ---- 8. a header's unauthenticated tenant never reaches a terminal raw ----

TEST_F(Promises, InspectAndListEscapeTheTenantNobodyAuthenticated) {
    init_keys();
    write_text(dir() / "plain.txt", "data\n");
    auto sealed = dir() / "x.gdpc";
    ASSERT_EQ(
        gdprctl("container encrypt -q --platform-key " + (dir() / "plain.txt").string() + " -o " + sealed.string()), 0);
    // The tenant field rewritten by hand (the header MAC no longer verifies: inspect does not
    // check it, and that is the point).
    std::string evil = "\x1b]0;pwned\x07\nfake line\x1b[2J\xff";
    auto bytes = read_text(sealed);
    ASSERT_EQ(bytes[35], '\0');
    bytes[35] = static_cast<char>(evil.size());
    bytes.insert(36, evil);
    auto forged = dir() / "backups/acme/20261123T000000Z.gdpb";
    std::filesystem::create_directories(forged.parent_path());
    write_text(forged, bytes);

    std::string out, err;
    ASSERT_EQ(gdprctl("container inspect " + forged.string(), &out, &err), 0) << err;
    EXPECT_FALSE(has_control_bytes(out)) << out;
    EXPECT_NE(out.find("tenant     \\x1b]0;pwned\\x07\\nfake line\\x1b[2J\\xff\n"), std::string::npos) << out;
    ASSERT_EQ(gdprctl("--format json container inspect " + forged.string(), &out, &err), 0) << err;
    auto json = nlohmann::json::parse(out);
    EXPECT_EQ(json["tenant_hex"], "1b5d303b70776e6564070a66616b65206c696e651b5b324aff");
    ASSERT_EQ(gdprctl("backup list", &out, &err), 0) << err;
    EXPECT_FALSE(has_control_bytes(out)) << out;
    gdprctl("backup verify --all", &out, &err);
    EXPECT_FALSE(has_control_bytes(out + err)) << out << err;
}

// ---- 9. smaller promises ----

TEST_F(Promises, SealingForATenantNoStoreKnowsCreatesNoKey) {
    init_keys();
    write_text(dir() / "plain.txt", "data\n");
    std::string out, err;
    EXPECT_EQ(gdprctl("container encrypt " + (dir() / "plain.txt").string() + " -o " + (dir() / "a.gdpc").string() +
                          " --tenant t01",
                      &out, &err),
              2);
    EXPECT_NE(err.find("t01"), std::string::npos) << err;
    EXPECT_EQ(sqlite("SELECT count(*) FROM keys WHERE tenant = 't01'"), "0");
    EXPECT_FALSE(std::filesystem::exists(dir() / "a.gdpc"));
    EXPECT_EQ(gdprctl("container encrypt -q " + (dir() / "plain.txt").string() + " -o " + (dir() / "b.gdpc").string() +
                      " --tenant acme"),
              0)
        << "acme's records are in the stores";
    EXPECT_EQ(gdprctl("container encrypt -q " + (dir() / "plain.txt").string() + " -o " + (dir() / "c.gdpc").string() +
                      " --tenant t01 --new-tenant"),
              0);
    EXPECT_EQ(sqlite("SELECT count(*) FROM keys WHERE tenant = 't01'"), "1");
}

TEST_F(Promises, AMasterKeyFileOthersCanReadIsWarnedAboutEveryTime) {
    init_keys();
    std::string out, err;
    ASSERT_EQ(gdprctl("keys export-public --tenant acme", &out, &err), 0);
    EXPECT_EQ(err.find("chmod"), std::string::npos) << err;
    std::filesystem::permissions(dir() / "master.key", std::filesystem::perms(0644));
    ASSERT_EQ(gdprctl("keys export-public --tenant acme", &out, &err), 0);
    EXPECT_NE(err.find("readable or writable by others"), std::string::npos) << err;
    EXPECT_NE(err.find("0644"), std::string::npos) << err;
}

TEST_F(Promises, AnEntryNamedLikeADirectoryIsRefusedByItsName) {
    init_keys();
    auto tar = dir() / "slash.tar";
    write_tar(tar, "    add('files/x/', b'pwned')\n");
    auto sealed = dir() / "slash.gdpb";
    ASSERT_EQ(gdprctl("container encrypt -q --platform-key " + tar.string() + " -o " + sealed.string()), 0);
    write_backup_manifest(sealed, tar);
    std::string out, err;
    EXPECT_EQ(gdprctl("backup restore " + sealed.string() + " --to " + (dir() / "r").string(), &out, &err), 4) << err;
    EXPECT_NE(err.find("files/x/"), std::string::npos) << err;
    EXPECT_EQ(err.find("empty name"), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(dir() / "r"));
}

}  // namespace
}  // namespace gdprctl::testing
