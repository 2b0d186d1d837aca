// The reference platform with its recordings in a bucket of a real RADOS Gateway (refstack
// seed --objects s3), driven through the gdprctl binary and checked from outside with s3cmd,
// unzip and sha256sum.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/ceph_cluster.hpp"
#include "tests/support/reference_platform.hpp"

namespace gdprctl::testing {
namespace {

std::string seed_options_for(const std::string& bucket) {
    auto& cluster = CephCluster::shared();
    return "--objects s3 --s3-endpoint " + cluster.endpoint() + " --s3-bucket " + bucket + " --s3-credentials-file " +
           shell_quote(cluster.credentials_file().string());
}

class S3Platform : public ::testing::Test, protected ReferencePlatform {
protected:
    S3Platform() : ReferencePlatform(seed_options_for(bucket_for_this_test())) {}

    static std::string bucket_for_this_test() {
        static std::string bucket;
        bucket = CephCluster::shared().create_bucket();
        return bucket;
    }
    std::string bucket() const { return config()["sources"][recordings_index()]["bucket"]; }
    nlohmann::json config() const { return nlohmann::json::parse(read_text(dir() / "gdprctl.json")); }
    std::size_t recordings_index() const {
        auto sources = config()["sources"];
        for (std::size_t i = 0; i < sources.size(); ++i)
            if (sources[i]["name"] == "recordings") return i;
        throw std::runtime_error("no recordings source");
    }
    std::vector<std::string> recordings_of(const std::string& tenant) const {
        return CephCluster::shared().keys_by_s3cmd(bucket(), "recordings/" + tenant + "/");
    }
    // The rotated, gzipped access logs shipped to the bucket as a log shipper does
    // (access-logs/edge1/access.log.N.gz), gone from the disk, and mapped as an s3 source whose
    // lines say their tenant, as the access-log source's do.
    void ship_rotated_logs_to_the_bucket() const {
        auto& cluster = CephCluster::shared();
        std::vector<std::filesystem::path> rotated;
        for (const auto& entry : std::filesystem::directory_iterator(dir() / "logs"))
            if (entry.path().extension() == ".gz" && entry.path().filename().string().rfind("access.log.", 0) == 0)
                rotated.push_back(entry.path());
        ASSERT_GE(rotated.size(), 3u);
        for (const auto& file : rotated) {
            cluster.s3cmd("put -q " + shell_quote(file.string()) + " " +
                          shell_quote("s3://" + bucket() + "/access-logs/edge1/" + file.filename().string()));
            std::filesystem::remove(file);
        }
        auto edited = config();
        edited["sources"].push_back({{"name", "log-archive"},
                                     {"kind", "s3"},
                                     {"endpoint", cluster.endpoint()},
                                     {"bucket", bucket()},
                                     {"prefix", "access-logs/"},
                                     {"credentials_file", cluster.credentials_file().string()},
                                     {"category", "usage-data"},
                                     {"line_tenant", {{"regex", "\"[A-Z]+ /hls/([^/]+)/"}}}});
        write_text(dir() / "gdprctl.json", edited.dump(2));
    }
    // The archive as s3cmd fetches it, in dir()/name.
    std::filesystem::path archive_copy(const std::string& name) const {
        auto copy = dir() / name;
        CephCluster::shared().s3cmd("sync -q " + shell_quote("s3://" + bucket() + "/access-logs/") + " " +
                                    shell_quote(copy.string() + "/"));
        return copy;
    }
    void edit_recordings_source(const std::function<void(nlohmann::json&)>& change) const {
        auto edited = config();
        change(edited["sources"][recordings_index()]);
        write_text(dir() / "gdprctl.json", edited.dump(2));
    }
};

std::string sha256_of(const std::filesystem::path& file) {
    std::string out;
    run_command("sha256sum " + shell_quote(file.string()), &out);
    return out.substr(0, 64);
}

TEST_F(S3Platform, RecordingsInABucketAreScannedExportedBackedUpAndErasedWithTheirTenantOnly) {
    auto acme = recordings_of("acme");
    auto bluebird = recordings_of("bluebird");
    ASSERT_EQ(acme.size(), truth["tenants"]["acme"]["records"]["recordings"].get<std::size_t>());
    ASSERT_FALSE(bluebird.empty());
    EXPECT_FALSE(std::filesystem::exists(dir() / "recordings" / "acme" / acme.front()));

    auto scanned = scanned_records(dir());
    EXPECT_EQ(scanned["recordings/acme"], acme.size());
    EXPECT_EQ(scanned["recordings/bluebird"], bluebird.size());

    // The export holds every recording of acme's, byte for byte, and none of anyone else's.
    std::string out, err;
    ASSERT_EQ(gdprctl("export --tenant acme --out " + (dir() / "acme.zip").string(), &out, &err), 0) << out << err;
    run_command("unzip -Z1 " + shell_quote((dir() / "acme.zip").string()) + " 'files/recordings/*'", &out);
    EXPECT_EQ(static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')), acme.size()) << out;
    EXPECT_EQ(out.find("bluebird"), std::string::npos);
    auto first = acme.front();  // recordings/acme/NAME.flv
    CephCluster::shared().s3cmd("get " + shell_quote("s3://" + bucket() + "/" + first) + " " +
                                shell_quote((dir() / "from-s3cmd.flv").string()));
    run_command("unzip -p " + shell_quote((dir() / "acme.zip").string()) + " " +
                    shell_quote("files/recordings/" + first.substr(std::string("recordings/").size())) + " > " +
                    shell_quote((dir() / "from-export.flv").string()),
                &out);
    EXPECT_EQ(sha256_of(dir() / "from-export.flv"), sha256_of(dir() / "from-s3cmd.flv"));

    // The tenant's backup carries the objects too, and restores them byte for byte.
    ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
    auto created = gdprctl_json("backup create --tenant acme");
    ASSERT_EQ(created["backups"].size(), 1u);
    auto restored = dir() / "restored";
    ASSERT_EQ(
        gdprctl("backup restore " + created["backups"][0]["path"].get<std::string>() + " --to " + restored.string(),
                &out, &err),
        0)
        << out << err;
    EXPECT_EQ(sha256_of(restored / "files" / "recordings" / first.substr(std::string("recordings/").size())),
              sha256_of(dir() / "from-s3cmd.flv"));

    ASSERT_EQ(gdprctl("erase --tenant acme --yes", &out, &err), 0) << out << err;
    EXPECT_NE(out.find("nothing left"), std::string::npos) << out;
    EXPECT_TRUE(recordings_of("acme").empty());
    EXPECT_EQ(recordings_of("bluebird"), bluebird);
}

TEST_F(S3Platform, AnUnreachableEndpointOrWrongCredentialsExitThreeNamingTheSourceAndNoSecret) {
    auto secret = read_text(CephCluster::shared().credentials_file());
    secret = secret.substr(secret.find("secret_access_key = ") + 20, 40);

    edit_recordings_source([](nlohmann::json& source) {
        source["endpoint"] = "http://127.0.0.1:" + std::to_string(free_loopback_port());
    });
    std::string out, err;
    EXPECT_EQ(gdprctl("scan", &out, &err), 3) << out << err;
    EXPECT_NE(err.find("source \"recordings\": cannot reach http://127.0.0.1:"), std::string::npos) << err;
    EXPECT_NE(err.find("hint: check \"endpoint\""), std::string::npos) << err;
    EXPECT_EQ(err.find("readable or writable by others"), std::string::npos) << err;  // the cluster's is 0600

    write_text(dir() / "wrong.credentials", "access_key_id = NOSUCHKEY\nsecret_access_key = not-the-secret\n");
    std::filesystem::permissions(dir() / "wrong.credentials", std::filesystem::perms(0644));
    edit_recordings_source([&](nlohmann::json& source) {
        source["endpoint"] = CephCluster::shared().endpoint();
        source["credentials_file"] = (dir() / "wrong.credentials").string();
    });
    EXPECT_EQ(gdprctl("erase --tenant acme --yes", &out, &err), 3) << out << err;
    EXPECT_NE(err.find("source \"recordings\": " + CephCluster::shared().endpoint() + " refused the credentials from " +
                       (dir() / "wrong.credentials").string()),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("the credentials file " + (dir() / "wrong.credentials").string() +
                       " is readable or writable by others than its owner (mode 0644): run 'chmod 600"),
              std::string::npos)
        << err;
    EXPECT_EQ((out + err).find("not-the-secret"), std::string::npos);
    EXPECT_EQ((out + err).find(secret), std::string::npos);
    EXPECT_FALSE(recordings_of("acme").empty());  // nothing was erased anywhere
    EXPECT_EQ(database().value("SELECT count(*) FROM tenants WHERE id = 'acme'"), "1");
}

// Lines of the files under dir (gzipped or not) holding text, as a word or anywhere, counted
// with zcat and grep.
std::uint64_t lines_holding(const std::filesystem::path& dir, const std::string& text, bool as_word = true) {
    std::string out;
    run_command("find " + shell_quote(dir.string()) + " -type f -exec zcat -f {} + | grep -a -c -F " +
                    (as_word ? "-w " : "") + "-e " + shell_quote(text),
                &out);
    return std::stoull(out);
}

std::uint64_t lines_in(const std::filesystem::path& dir) {
    std::string out;
    run_command("find " + shell_quote(dir.string()) + " -type f -exec zcat -f {} + | wc -l", &out);
    return std::stoull(out);
}

TEST_F(S3Platform, AViewersErasureTakesTheirLinesOutOfTheLogArchiveInTheBucketAndIsCertified) {
    ship_rotated_logs_to_the_bucket();

    // A viewer whose addresses are in the archive.
    auto before = archive_copy("before");
    const nlohmann::json* viewer = nullptr;
    for (const auto& subject : truth["subjects"])
        for (const auto& ip : subject["identifiers"].value("ip", nlohmann::json::array()))
            if (!viewer && subject["identifiers"].contains("email") && lines_holding(before, ip) > 0) viewer = &subject;
    ASSERT_NE(viewer, nullptr);
    std::map<std::string, std::uint64_t> held;
    std::uint64_t held_in_all = 0;
    for (const auto& ip : (*viewer)["identifiers"]["ip"]) held_in_all += held[ip] = lines_holding(before, ip);

    ASSERT_EQ(gdprctl("keys init --key-file " + (dir() / "master.key").string() + " -q"), 0);
    auto email = (*viewer)["identifiers"]["email"].get<std::string>();
    auto dry = gdprctl_json("erase --dry-run --subject " + shell_quote("email:" + email));
    bool planned = false;
    for (const auto& source : dry["sources"])
        if (source["source"] == "log-archive") planned = source["records"].get<std::uint64_t>() > 0;
    EXPECT_TRUE(planned) << dry.dump(2);

    auto report = gdprctl_json("erase --yes --subject " + shell_quote("email:" + email));
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    EXPECT_EQ(report["certified"], true) << report.dump(2);

    // From outside: each address's lines are gone, or all kept where others used it too; and
    // no other line went.
    auto after = archive_copy("after");
    std::uint64_t erased = 0;
    for (const auto& [ip, lines] : held) {
        auto left = lines_holding(after, ip);
        EXPECT_TRUE(left == 0 || left == lines) << ip << ": " << left << " of " << lines;
        if (left == 0) erased += lines;
    }
    EXPECT_GT(erased, 0u);
    EXPECT_LE(erased, held_in_all);
    EXPECT_EQ(lines_in(after), lines_in(before) - erased);
}

TEST_F(S3Platform, ATenantsErasureTakesItsLinesOutOfALogArchiveEveryTenantShares) {
    ship_rotated_logs_to_the_bucket();
    auto before = archive_copy("before");
    auto acme_lines = lines_holding(before, " /hls/acme/", false);
    ASSERT_GT(acme_lines, 0u);
    auto dry = gdprctl_json("erase --dry-run --tenant acme");
    std::uint64_t planned = 0;
    for (const auto& source : dry["sources"])
        if (source["source"] == "log-archive") planned = source["records"].get<std::uint64_t>();
    EXPECT_EQ(planned, acme_lines) << dry.dump(2);

    auto report = gdprctl_json("erase --yes --tenant acme");
    EXPECT_EQ(report["verification"]["result"], "no residue") << report.dump(2);
    EXPECT_EQ(report["certified"], true);
    // From outside: no line of acme's is left, and every other line is, in order.
    auto after = archive_copy("after");
    EXPECT_EQ(lines_holding(after, " /hls/acme/", false), 0u);
    std::string expected, got;
    run_command("for f in $(ls " + shell_quote(before.string() + "/edge1") + "); do zcat " +
                    shell_quote(before.string() + "/edge1/") + "$f | grep -v -F \" /hls/acme/\"; done | sha256sum",
                &expected);
    run_command("for f in $(ls " + shell_quote(after.string() + "/edge1") + "); do zcat " +
                    shell_quote(after.string() + "/edge1/") + "$f; done | sha256sum",
                &got);
    EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace gdprctl::testing
