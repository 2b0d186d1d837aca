// The s3 connector against a real RADOS Gateway (tests/support/ceph-cluster), checked from
// outside with s3cmd and curl: paged listings, a killed purge resumed, multipart objects,
// versioned buckets, and the rescan of log objects' bytes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "connectors/s3/s3_client.hpp"
#include "core/config/workspace.hpp"
#include "core/error.hpp"
#include "tests/support/ceph_cluster.hpp"
#include "tests/support/fault_progress.hpp"

namespace gdprctl::testing {
namespace {

constexpr util::UnixTime k_now = 1795000000;

// A workspace whose one source is an s3 source over bucket/prefix.
class S3Workspace {
public:
    S3Workspace(const std::string& bucket, nlohmann::json extra = nlohmann::json::object()) {
        auto& cluster = CephCluster::shared();
        nlohmann::json source = {{"name", "media"},
                                 {"kind", "s3"},
                                 {"endpoint", cluster.endpoint()},
                                 {"bucket", bucket},
                                 {"prefix", "media/"},
                                 {"credentials_file", cluster.credentials_file().string()},
                                 {"category", "recordings"},
                                 {"tenant", {{"regex", "^(t[0-9]+)/"}}},
                                 {"timestamp", {{"format", "unix"}, {"regex", "-([0-9]+)\\.[a-z.]+$"}}}};
        source.update(extra);
        // A null in extra takes the key out.
        for (const auto& [key, value] : extra.items())
            if (value.is_null()) source.erase(key);
        write_text(m_dir / "gdprctl.json", nlohmann::json({{"platform", "s3"}, {"sources", {source}}}).dump(2));
        m_workspace = config::load_workspace(m_dir / "gdprctl.json");
        m_connector = connectors::open_connector(m_workspace.sources.front(), m_workspace);
        m_connector->validate();
    }
    connectors::Connector& connector() { return *m_connector; }

private:
    TempDir m_dir;
    config::Workspace m_workspace;
    std::unique_ptr<connectors::Connector> m_connector;
};

std::string key_of(const std::string& tenant, int n, util::UnixTime time, const std::string& ext = "flv") {
    return "media/" + tenant + "/rec" + std::to_string(n) + "-" + std::to_string(time) + "." + ext;
}

connectors::Selector older_than(util::UnixTime cutoff) {
    connectors::Selector selector;
    selector.older_than = cutoff;
    return selector;
}

std::uint64_t records_of(const connectors::SourceInventory& inventory) {
    std::uint64_t total = 0;
    for (const auto& row : inventory.rows) total += row.records;
    return total;
}

std::string gzipped(const std::string& text) {
    std::string out(compressBound(static_cast<uLong>(text.size())) + 32, '\0');
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = static_cast<uInt>(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

TEST(S3Connector, PagesThroughThousandsOfObjectsAndAKilledPurgeResumesToDeleteOnlyTheExpired) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    // 4,500 expired objects (five listing pages, five delete batches sent in two waves of at
    // most four) and 300 fresh ones.
    for (int n = 0; n < 4500; ++n) client.put(key_of(n % 2 ? "t1" : "t2", n, k_now - 100 * 86400), "old");
    for (int n = 0; n < 300; ++n) client.put(key_of("t1", 5000 + n, k_now - 86400), "new");
    S3Workspace workspace(bucket);

    EXPECT_EQ(records_of(workspace.connector().inventory({}, {})), 4800u);
    auto plan = workspace.connector().plan(older_than(k_now - 90 * 86400), {});
    ASSERT_EQ(plan.records(), 4500u);
    EXPECT_EQ(plan.source_records, 4800u);
    EXPECT_EQ(cluster.keys_by_s3cmd(bucket).size(), 4800u);  // the plan changed nothing

    FaultyProgress killed(1);  // dies after the first wave of 4,000 is deleted
    EXPECT_THROW(workspace.connector().apply(plan, killed), FaultyProgress::Killed);
    EXPECT_EQ(cluster.keys_by_s3cmd(bucket).size(), 800u);

    killed.heal();
    auto report = workspace.connector().apply(plan, killed);
    EXPECT_EQ(report.records_changed, 4500u);
    auto left = cluster.keys_by_s3cmd(bucket);
    ASSERT_EQ(left.size(), 300u);
    for (const auto& key : left)
        EXPECT_NE(key.find("-" + std::to_string(k_now - 86400) + "."), std::string::npos) << key;
}

TEST(S3Connector, AMultipartObjectIsCollectedWholeAsAStream) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    TempDir dir;
    std::string content;
    for (int i = 0; content.size() < (12u << 20); ++i) content += "frame " + std::to_string(i) + "\n";
    write_text(dir / "big.flv", content);
    auto key = key_of("t1", 1, k_now);
    client.put_file(key, dir / "big.flv", 5u << 20);  // three parts

    // From outside: the server made one object of three parts (its ETag says so), whose bytes
    // are the file's.
    auto info = cluster.s3cmd("info " + shell_quote("s3://" + bucket + "/" + key));
    EXPECT_NE(info.find("-3"), std::string::npos) << info;
    cluster.s3cmd("get " + shell_quote("s3://" + bucket + "/" + key) + " " + shell_quote((dir / "got").string()));
    EXPECT_EQ(read_text(dir / "got"), content);

    struct Streamed final : connectors::RecordSink {
        std::uint64_t size = 0, blobs = 0;
        std::string text;
        void record(const config::Dataset&, const std::string&, const nlohmann::json&) override {}
        void blob(const config::Dataset&, const std::string&, const std::filesystem::path&,
                  const std::string&) override {}
        void streamed_blob(const config::Dataset&, const std::string& tenant,
                           const connectors::StreamedBlob& blob) override {
            EXPECT_EQ(tenant, "t1");
            size = blob.size;
            ++blobs;
            blob.read([&](std::string_view piece) {
                // Streamed: pieces arrive as the server sends them, never the whole object at once.
                EXPECT_LT(piece.size(), 4u << 20);
                text.append(piece);
            });
        }
    } sink;
    S3Workspace workspace(bucket);
    workspace.connector().collect({}, sink);
    EXPECT_EQ(sink.blobs, 1u);
    EXPECT_EQ(sink.size, content.size());
    EXPECT_TRUE(sink.text == content);
}

TEST(S3Connector, ErasingATenantInAVersionedBucketLeavesNoVersionAndNoDeleteMarker) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket(true);
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    client.put(key_of("t1", 1, k_now), "first take");
    client.put(key_of("t1", 1, k_now), "second take");  // the first stays as a noncurrent version
    client.put(key_of("t1", 2, k_now), "deleted by the platform");
    client.delete_objects({{key_of("t1", 2, k_now), ""}});  // a delete marker over a kept version
    client.put(key_of("t2", 3, k_now), "another tenant's");
    ASSERT_EQ(cluster.versions_by_curl(bucket), std::make_pair(4, 1));

    S3Workspace workspace(bucket);
    connectors::Selector tenant;
    tenant.tenant = "t1";
    auto plan = workspace.connector().plan(tenant, {connectors::Action::Kind::erase, {}, {}, {}});
    ASSERT_EQ(plan.items.size(), 2u);
    EXPECT_EQ(plan.items[0].records, 1u);  // the current object
    EXPECT_EQ(plan.items[1].records, 3u);  // the old take, the deleted object's version, its marker
    FaultyProgress progress;
    workspace.connector().apply(plan, progress);

    EXPECT_EQ(cluster.versions_by_curl(bucket), std::make_pair(1, 0));
    EXPECT_EQ(cluster.keys_by_s3cmd(bucket), std::vector<std::string>{key_of("t2", 3, k_now)});
    pii::IdentifierMatcher nothing({});
    EXPECT_TRUE(workspace.connector().verify(tenant, nothing).residue.empty());
}

TEST(S3Connector, MoreThanAThousandVersionsArePagedThroughAndEveryOneGoesWithItsTenant) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket(true);
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    // 700 keys of two versions each: the version listing takes two pages, the second starting
    // inside a key's versions for some of them.
    for (int take = 0; take < 2; ++take)
        for (int n = 0; n < 700; ++n) client.put(key_of("t1", n, k_now), "take " + std::to_string(take));
    client.put(key_of("t2", 1, k_now), "another tenant's");
    S3Workspace workspace(bucket);
    connectors::Selector tenant;
    tenant.tenant = "t1";
    auto plan = workspace.connector().plan(tenant, {connectors::Action::Kind::erase, {}, {}, {}});
    ASSERT_EQ(plan.items.size(), 2u);
    EXPECT_EQ(plan.items[0].records, 700u);
    EXPECT_EQ(plan.items[1].records, 700u);
    FaultyProgress progress;
    EXPECT_EQ(workspace.connector().apply(plan, progress).records_changed, 1400u);
    EXPECT_EQ(cluster.versions_by_curl(bucket), std::make_pair(1, 0));
}

TEST(S3Connector, TheRescanReadsLogObjectsPlainAndGzippedAndNamesWhereTheIdentifierIs) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    std::string log;
    for (int i = 0; i < 20000; ++i) log += "203.0.113." + std::to_string(i % 250) + " GET /live/acme.m3u8\n";
    client.put(key_of("t1", 1, k_now, "log"), log + "198.51.100.7 GET /live/acme.m3u8\n");
    client.put(key_of("t1", 2, k_now, "log.gz"), gzipped(log + "user ann@example.org logged in\n" + log));
    client.put(key_of("t1", 3, k_now, "flv"), "FLV ann@example.org in the bytes of media, which are not read");
    S3Workspace workspace(bucket);

    connectors::Selector person;
    person.subjects = {{"email", "ann@example.org"}, {"ip", "198.51.100.7"}};
    pii::IdentifierMatcher identifiers(connectors::text_patterns(person.subjects));
    auto report = workspace.connector().verify(person, identifiers);
    std::map<std::string, std::uint64_t> residue;
    for (const auto& found : report.residue) residue[found.location] = found.matches;
    EXPECT_EQ(residue,
              (std::map<std::string, std::uint64_t>{{"s3://" + bucket + "/" + key_of("t1", 1, k_now, "log"), 1},
                                                    {"s3://" + bucket + "/" + key_of("t1", 2, k_now, "log.gz"), 1}}));
}

TEST(S3Connector, KeysWithSpacesPlusSignsAccentsAndControlBytesAreListedAndErased) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    const std::vector<std::string> names = {"a b", "a+b", "caf\xc3\xa9", "line\nbreak", "bell\x01", "100%", "x&y<z>"};
    for (const auto& name : names) client.put("media/t1/" + name + "-" + std::to_string(k_now) + ".flv", name);
    client.put("media/t2/kept-" + std::to_string(k_now) + ".flv", "kept");
    ASSERT_EQ(cluster.versions_by_curl(bucket).first, 8);
    S3Workspace workspace(bucket);
    auto inventory = workspace.connector().inventory({}, {});
    std::map<std::string, std::uint64_t> per_tenant;
    for (const auto& row : inventory.rows) per_tenant[row.tenant] += row.records;
    EXPECT_EQ(per_tenant, (std::map<std::string, std::uint64_t>{{"t1", 7}, {"t2", 1}}));
    connectors::Selector tenant;
    tenant.tenant = "t1";
    FaultyProgress progress;
    auto report = workspace.connector().apply(
        workspace.connector().plan(tenant, {connectors::Action::Kind::erase, {}, {}, {}}), progress);
    EXPECT_EQ(report.records_changed, 7u);
    EXPECT_EQ(cluster.versions_by_curl(bucket).first, 1);
    EXPECT_EQ(cluster.keys_by_s3cmd(bucket),
              std::vector<std::string>{"media/t2/kept-" + std::to_string(k_now) + ".flv"});
}

TEST(S3Connector, TlsIsVerifiedByDefaultAndAcceptedWithTheCaThatSignedTheServer) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    try {
        S3Workspace workspace(bucket, {{"endpoint", cluster.tls_endpoint()}});
        FAIL() << "a certificate no trusted CA signed was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 3);
        EXPECT_NE(std::string(e.what()).find("cannot reach " + cluster.tls_endpoint()), std::string::npos) << e.what();
        EXPECT_NE(e.hint().find("ca_file"), std::string::npos) << e.hint();
    }
    S3Workspace trusting(bucket, {{"endpoint", cluster.tls_endpoint()}, {"ca_file", cluster.ca_file().string()}});
    EXPECT_TRUE(trusting.connector().inventory({}, {}).rows.empty());
    S3Workspace unverified(bucket, {{"endpoint", cluster.tls_endpoint()}, {"tls_verify", false}});
    EXPECT_TRUE(unverified.connector().inventory({}, {}).rows.empty());
}

TEST(S3Connector, AVirtualHostEndpointAddressesTheBucketByItsHostName) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket(true);
    connectors::s3::Client client(cluster.bucket_endpoint(bucket));
    for (int n = 0; n < 3; ++n) client.put(key_of("t1", n, k_now), "take one");
    client.put(key_of("t1", 0, k_now), "take two");
    client.put(key_of("t2", 9, k_now), "another tenant's");
    // http://BUCKET.localhost:PORT/KEY: the gateway knows the bucket from the host name alone,
    // so a path-style request sent there by mistake would list the account's buckets instead.
    auto endpoint = cluster.endpoint();
    endpoint.replace(endpoint.find("127.0.0.1"), 9, "localhost");
    S3Workspace workspace(bucket, {{"endpoint", endpoint}, {"addressing", "virtual-host"}});

    EXPECT_EQ(records_of(workspace.connector().inventory({}, {})), 4u);
    struct Bodies final : connectors::RecordSink {
        std::vector<std::string> texts;
        void record(const config::Dataset&, const std::string&, const nlohmann::json&) override {}
        void blob(const config::Dataset&, const std::string&, const std::filesystem::path&,
                  const std::string&) override {}
        void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob& blob) override {
            std::string text;
            blob.read([&](std::string_view piece) { text.append(piece); });
            texts.push_back(text);
        }
    } bodies;
    connectors::Selector tenant;
    tenant.tenant = "t2";
    workspace.connector().collect(tenant, bodies);
    EXPECT_EQ(bodies.texts, std::vector<std::string>{"another tenant's"});

    tenant.tenant = "t1";
    auto plan = workspace.connector().plan(tenant, {connectors::Action::Kind::erase, {}, {}, {}});
    FaultyProgress progress;
    EXPECT_EQ(workspace.connector().apply(plan, progress).records_changed, 4u);
    EXPECT_EQ(cluster.versions_by_curl(bucket), std::make_pair(1, 0));
    EXPECT_EQ(cluster.keys_by_s3cmd(bucket), std::vector<std::string>{key_of("t2", 9, k_now)});
}

TEST(S3Connector, TheConfigNeverHoldsCredentialsAndAMissingBucketIsNamed) {
    auto& cluster = CephCluster::shared();
    auto bucket = cluster.create_bucket();
    try {
        S3Workspace workspace(bucket, {{"secret_access_key", "hunter2"}});
        FAIL() << "a secret in the config was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        EXPECT_NE(std::string(e.what()).find("never read from the config"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
    try {
        S3Workspace workspace("no-such-bucket-here");
        FAIL() << "a missing bucket was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        EXPECT_NE(std::string(e.what()).find("bucket \"no-such-bucket-here\" does not exist"), std::string::npos)
            << e.what();
    }
}

// A bucket laid out as a video platform keeps one (PeerTube's object storage: web-videos/,
// streaming-playlists/hls/, user-exports/USERID-UUID.zip), one prefix per tenant, with the
// edge nodes' nginx access logs shipped beside them as logrotate leaves them
// (access.log-YYYYMMDD, gzipped or not). Bob is user 42 of acme, viewing from 198.51.100.7.
class PlatformBucket {
public:
    static constexpr const char* k_bob_ip = "198.51.100.7";

    explicit PlatformBucket(bool versioned = false)
        : m_bucket(CephCluster::shared().create_bucket(versioned)),
          m_client(CephCluster::shared().bucket_endpoint(m_bucket)) {}

    const std::string& bucket() const { return m_bucket; }
    connectors::s3::Client& client() { return m_client; }

    // A combined-format log of `lines` viewers' lines; every `every`th is one of bob's (by
    // address, or by e-mail in the query), the others anybody else's, some from an address
    // that starts like his. Fills kept with what must stay.
    static std::string access_log(const std::string& tenant, int lines, int every, std::string& kept) {
        std::string log;
        for (int i = 0; i < lines; ++i) {
            bool bobs = every > 0 && i % every == 0;
            std::string ip = bobs && i % (2 * every) == 0 ? k_bob_ip
                             : i % 7 == 0                 ? "198.51.100.70"
                                                          : "203.0.113." + std::to_string(i % 200);
            std::string query = bobs && ip != k_bob_ip ? "?viewer=bob@example.com" : "";
            std::string line = ip + " - - [01/Dec/2026:10:" + std::to_string(10 + i % 50) + ":00 +0000] \"GET /hls/" +
                               tenant + "/live/index" + std::to_string(i) + ".ts" + query +
                               " HTTP/1.1\" 200 51234 \"-\" \"Mozilla/5.0\"\n";
            log += line;
            if (!bobs) kept += line;
        }
        return log;
    }

    // Whatever s3cmd fetches of key, inflated when gzipped.
    std::string fetched(const std::string& key) const {
        TempDir dir;
        CephCluster::shared().s3cmd("get " + shell_quote("s3://" + m_bucket + "/" + key) + " " +
                                    shell_quote((dir / "got").string()));
        std::string out;
        run_command("zcat -f " + shell_quote((dir / "got").string()), &out);
        return out;
    }

private:
    std::string m_bucket;
    connectors::s3::Client m_client;
};

connectors::Selector bob_within_acme() {
    connectors::Selector bob;
    bob.tenant = "acme";
    bob.subjects = {{"ip", PlatformBucket::k_bob_ip}, {"email", "bob@example.com"}, {"user", "42"}};
    return bob;
}

nlohmann::json platform_source(const std::string& bucket) {
    return {{"bucket", bucket},
            {"prefix", "platform/"},
            {"tenant", {{"regex", "^([^/]+)/"}}},
            {"subjects", {{"user", {"/user-exports/([0-9]+)-"}}}},
            {"timestamp", {{"format", "mtime"}}}};
}

struct CollectedForPerson final : connectors::RecordSink {
    std::vector<std::string> lines, objects;
    void record(const config::Dataset&, const std::string& tenant, const nlohmann::json& record) override {
        EXPECT_EQ(tenant, "acme");
        lines.push_back(record.at("text").get<std::string>());
    }
    void blob(const config::Dataset&, const std::string&, const std::filesystem::path&, const std::string&) override {}
    void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob& blob) override {
        objects.push_back(blob.relative_path);
    }
};

TEST(S3Connector, APersonsLinesLeaveTheTenantsLogObjectsWhileEverybodyElsesStayByteForByte) {
    PlatformBucket platform;
    auto& client = platform.client();
    std::string kept_gz, kept_plain, kept_none, bluebird_kept;
    const std::string gz_key = "platform/acme/logs/edge1/access.log-20261201.gz";
    const std::string plain_key = "platform/acme/logs/edge2/access.log-20261201";
    const std::string bobs_only_key = "platform/acme/logs/edge2/access.log-20261202";
    const std::string bluebird_key = "platform/bluebird/logs/edge1/access.log-20261201.gz";
    auto gz_log = PlatformBucket::access_log("acme", 3000, 50, kept_gz);
    auto plain_log = PlatformBucket::access_log("acme", 1000, 40, kept_plain);
    auto bluebird_log = PlatformBucket::access_log("bluebird", 500, 25, bluebird_kept);
    std::string bobs_only = std::string(PlatformBucket::k_bob_ip) + " - - [02/Dec/2026:09:00:00 +0000] \"GET " +
                            "/hls/acme/live/index1.ts HTTP/1.1\" 200 5 \"-\" \"curl\"\n";
    client.put(gz_key, gzipped(gz_log));
    client.put(plain_key, plain_log);
    client.put(bobs_only_key, bobs_only + bobs_only);
    client.put(bluebird_key, gzipped(bluebird_log));  // the same address, in another tenant
    client.put("platform/acme/user-exports/42-5b1f0d8e.zip", "PK bob's own archive");
    client.put("platform/acme/user-exports/7-0c9a44aa.zip", "PK someone else's archive");
    client.put("platform/acme/web-videos/3f6c2b1a-720.mp4", "ftypmp4 media bytes, never rewritten");
    client.put("platform/acme/streaming-playlists/hls/3f6c2b1a/master.m3u8", "#EXTM3U\n#EXT-X-VERSION:3\n");
    const auto bob_lines_gz = 3000 / 50, bob_lines_plain = 1000 / 40;

    S3Workspace workspace(platform.bucket(), platform_source(platform.bucket()));
    auto bob = bob_within_acme();

    // scan --subject, export and erase see the same: his export, his lines, nothing else.
    auto inventory = workspace.connector().inventory(bob, {});
    EXPECT_EQ(records_of(inventory), 1u + bob_lines_gz + bob_lines_plain + 2);
    CollectedForPerson collected;
    workspace.connector().collect(bob, collected);
    EXPECT_EQ(collected.objects, std::vector<std::string>{"acme/user-exports/42-5b1f0d8e.zip"});
    ASSERT_EQ(collected.lines.size(), static_cast<std::size_t>(bob_lines_gz + bob_lines_plain + 2));
    for (const auto& line : collected.lines)
        EXPECT_TRUE(line.rfind(std::string(PlatformBucket::k_bob_ip) + " ", 0) == 0 ||
                    line.find("viewer=bob@example.com") != std::string::npos)
            << line;

    auto plan = workspace.connector().plan(bob, {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_TRUE(plan.blocked().empty());
    std::map<std::string, std::uint64_t> planned;
    for (const auto& item : plan.items) planned[item.what] = item.records;
    EXPECT_EQ(planned, (std::map<std::string, std::uint64_t>{
                           {"delete objects whose key names the person", 1},
                           {"delete log objects holding only the person's lines", 2},
                           {"rewrite log objects without the person's lines", bob_lines_gz + bob_lines_plain}}));
    EXPECT_EQ(plan.records(), records_of(inventory));
    EXPECT_EQ(platform.fetched(gz_key), gz_log);  // the plan changed nothing

    FaultyProgress progress;
    EXPECT_EQ(workspace.connector().apply(plan, progress).records_changed, plan.records());

    // From outside: every other line, in order; gzip stays gzip; the other tenant and
    // everybody else's objects untouched.
    EXPECT_TRUE(platform.fetched(gz_key) == kept_gz);
    EXPECT_TRUE(platform.fetched(plain_key) == kept_plain);
    EXPECT_TRUE(platform.fetched(bluebird_key) == bluebird_log);
    auto left = CephCluster::shared().keys_by_s3cmd(platform.bucket());
    EXPECT_EQ(std::count(left.begin(), left.end(), bobs_only_key), 0);
    EXPECT_EQ(std::count(left.begin(), left.end(), "platform/acme/user-exports/42-5b1f0d8e.zip"), 0);
    EXPECT_EQ(left.size(), 6u);
    std::string grep_out;
    TempDir copy;
    CephCluster::shared().s3cmd("sync " + shell_quote("s3://" + platform.bucket() + "/platform/acme/") + " " +
                                shell_quote(copy.path().string() + "/"));
    run_command("find " + shell_quote(copy.path().string()) + " -type f -exec zcat -f {} + | grep -a -c -w -F -e " +
                    shell_quote(PlatformBucket::k_bob_ip) + " -e bob@example.com",
                &grep_out);
    EXPECT_EQ(grep_out, "0\n");

    pii::IdentifierMatcher identifiers(connectors::text_patterns(bob.subjects));
    EXPECT_TRUE(workspace.connector().verify(bob, identifiers).residue.empty());
}

TEST(S3Connector, AKilledRewriteInAVersionedBucketResumesAndNoVersionKeepsThePersonsLines) {
    PlatformBucket platform(true);
    auto& client = platform.client();
    const std::string small_key = "platform/acme/logs/edge1/access.log-20261201.gz";
    const std::string big_key = "platform/acme/logs/edge2/access.log-20261201";
    const std::string clean_key = "platform/acme/logs/edge1/access.log-20261130.gz";
    std::string first_kept, small_kept, big_kept, clean_kept;
    client.put(small_key, gzipped(PlatformBucket::access_log("acme", 400, 20, first_kept)));
    auto small_log = PlatformBucket::access_log("acme", 600, 30, small_kept);
    client.put(small_key, gzipped(small_log));  // the first upload stays as a noncurrent version
    // Large enough to be rewritten as a multipart upload of 8 MiB parts.
    auto big_log = PlatformBucket::access_log("acme", 230000, 1000, big_kept);
    ASSERT_GT(big_kept.size(), 16u << 20);
    TempDir dir;
    write_text(dir / "big", big_log);
    client.put_file(big_key, dir / "big");
    auto clean_log = PlatformBucket::access_log("acme", 300, 0, clean_kept);
    client.put(clean_key, gzipped(clean_log));
    ASSERT_EQ(CephCluster::shared().versions_by_curl(platform.bucket()), std::make_pair(4, 0));

    S3Workspace workspace(platform.bucket(), platform_source(platform.bucket()));
    auto bob = bob_within_acme();
    auto plan = workspace.connector().plan(bob, {connectors::Action::Kind::erase, {}, {}, {}});
    std::map<std::string, std::uint64_t> planned;
    for (const auto& item : plan.items) planned[item.what] = item.records;
    EXPECT_EQ(planned,
              (std::map<std::string, std::uint64_t>{{"rewrite log objects without the person's lines", 600 / 30 + 230},
                                                    {"delete older versions holding the person's lines", 1}}));

    // Killed once the older version is gone and the first object rewritten, before that is
    // recorded: the next run finishes without writing it twice.
    FaultyProgress killed(2);
    EXPECT_THROW(workspace.connector().apply(plan, killed), FaultyProgress::Killed);
    EXPECT_TRUE(platform.fetched(small_key) == small_kept);
    EXPECT_TRUE(platform.fetched(big_key) == big_log);
    killed.heal();
    EXPECT_EQ(workspace.connector().apply(plan, killed).records_changed, plan.records());

    EXPECT_TRUE(platform.fetched(small_key) == small_kept);
    EXPECT_TRUE(platform.fetched(big_key) == big_kept);
    EXPECT_TRUE(platform.fetched(clean_key) == clean_log);
    auto info = CephCluster::shared().s3cmd("info " + shell_quote("s3://" + platform.bucket() + "/" + big_key));
    auto parts = (big_kept.size() + (8u << 20) - 1) / (8u << 20);
    EXPECT_NE(info.find("-" + std::to_string(parts)), std::string::npos) << info;  // written in 8 MiB parts
    // One version a key: none of the versions that held bob's lines is left.
    EXPECT_EQ(CephCluster::shared().versions_by_curl(platform.bucket()), std::make_pair(3, 0));
    pii::IdentifierMatcher identifiers(connectors::text_patterns(bob.subjects));
    EXPECT_TRUE(workspace.connector().verify(bob, identifiers).residue.empty());
}

TEST(S3Connector, AnObjectThatMentionsThePersonButIsNoLineLogBlocksTheErasureBeforeAnythingChanges) {
    PlatformBucket platform;
    auto& client = platform.client();
    std::string kept;
    const std::string log_key = "platform/acme/logs/edge1/access.log-20261201.gz";
    auto log = PlatformBucket::access_log("acme", 200, 20, kept);
    client.put(log_key, gzipped(log));
    const std::string caption_key = "platform/acme/captions/3f6c2b1a-en.vtt";
    client.put(caption_key, "WEBVTT\n\n00:00.000 --> 00:04.000\nWrite to bob@example.com for the slides\n");
    S3Workspace workspace(platform.bucket(), platform_source(platform.bucket()));

    auto plan = workspace.connector().plan(bob_within_acme(), {connectors::Action::Kind::erase, {}, {}, {}});
    auto blocked = plan.blocked();
    ASSERT_EQ(blocked.size(), 1u);
    EXPECT_NE(blocked[0].find("s3://" + platform.bucket() + "/" + caption_key), std::string::npos) << blocked[0];
    EXPECT_NE(blocked[0].find("\"lines\""), std::string::npos) << blocked[0];
    FaultyProgress progress;
    EXPECT_THROW(workspace.connector().apply(plan, progress), Error);
    EXPECT_TRUE(platform.fetched(log_key) == log);
}

TEST(S3Connector, APersonsSelectorTakesNoObjectTheKeyOrTheBytesDoNotTieToThem) {
    PlatformBucket platform;
    auto& client = platform.client();
    client.put("platform/acme/user-exports/42-5b1f0d8e.zip", "PK bob's own archive");
    client.put("platform/acme/user-exports/421-77aa0e1f.zip", "PK user 421's");
    client.put("platform/acme/web-videos/3f6c2b1a-720.mp4", "ftypmp4");
    // Without subject patterns, no key names a user id: nothing is bob's by its key.
    auto source = platform_source(platform.bucket());
    source.erase("subjects");
    S3Workspace workspace(platform.bucket(), source);
    auto plan = workspace.connector().plan(bob_within_acme(), {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_EQ(plan.records(), 0u);
    EXPECT_EQ(plan.source_records, 3u);

    S3Workspace with_subjects(platform.bucket(), platform_source(platform.bucket()));
    plan = with_subjects.connector().plan(bob_within_acme(), {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_EQ(plan.records(), 1u);  // 42's, not 421's
    FaultyProgress progress;
    with_subjects.connector().apply(plan, progress);
    EXPECT_EQ(CephCluster::shared().keys_by_s3cmd(platform.bucket()),
              (std::vector<std::string>{"platform/acme/user-exports/421-77aa0e1f.zip",
                                        "platform/acme/web-videos/3f6c2b1a-720.mp4"}));
    // Lines cannot be anonymised in place: a data map that asks for it is told so, and nothing runs.
    auto anonymising = platform_source(platform.bucket());
    anonymising["erase"] = "anonymise";
    S3Workspace asks_anonymised(platform.bucket(), anonymising);
    try {
        asks_anonymised.connector().plan(bob_within_acme(), {connectors::Action::Kind::erase, {}, {}, {}});
        FAIL() << "anonymising objects was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        EXPECT_NE(std::string(e.what()).find("can be deleted but not anonymised"), std::string::npos) << e.what();
    }
}

// Edge nodes serving every tenant ship one log a day to logs/NODE/: the tenant is in each
// line's request, not in the key.
TEST(S3Connector, InASharedLogArchiveLinesSayWhoseTheyAreForATenantsAndAPersonsErasureWithinIt) {
    PlatformBucket platform;
    std::string acme_kept, bluebird_kept;
    auto acme = PlatformBucket::access_log("acme", 900, 30, acme_kept);
    auto bluebird = PlatformBucket::access_log("bluebird", 900, 30, bluebird_kept);
    // Interleaved as one node writes them: acme's line, then bluebird's.
    auto interleave = [](const std::string& a, const std::string& b) {
        std::istringstream in_a(a), in_b(b);
        std::string out, line;
        while (std::getline(in_a, line)) {
            out += line + "\n";
            if (std::getline(in_b, line)) out += line + "\n";
        }
        return out;
    };
    const std::string key = "logs/edge1/access.log-20261201.gz";
    platform.client().put(key, gzipped(interleave(acme, bluebird)));
    nlohmann::json source = {{"bucket", platform.bucket()},
                             {"prefix", "logs/"},
                             {"category", "usage-data"},
                             {"line_tenant", {{"regex", "\"[A-Z]+ /hls/([^/]+)/"}}},
                             {"timestamp", {{"format", "mtime"}}}};
    source["tenant"] = nullptr;
    S3Workspace workspace(platform.bucket(), source);

    // Bob within acme: his acme lines go; the same address's lines in bluebird's stay.
    auto bob = bob_within_acme();
    auto plan = workspace.connector().plan(bob, {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_EQ(plan.records(), 900u / 30);
    FaultyProgress progress;
    workspace.connector().apply(plan, progress);
    // Every line is unique (its segment number and tenant): what went is what acme_kept lacks.
    auto lines_of = [](const std::string& text) {
        std::set<std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) lines.insert(line);
        return lines;
    };
    auto kept = lines_of(acme_kept);
    std::string expected;
    std::istringstream all(interleave(acme, bluebird));
    for (std::string line; std::getline(all, line);)
        if (line.find("/hls/acme/") == std::string::npos || kept.count(line)) expected += line + "\n";
    EXPECT_TRUE(platform.fetched(key) == expected) << "more than bob's acme lines went";
    pii::IdentifierMatcher identifiers(connectors::text_patterns(bob.subjects));
    EXPECT_TRUE(workspace.connector().verify(bob, identifiers).residue.empty());

    // acme as a whole: its export and its erasure take its lines, and only its lines.
    connectors::Selector tenant;
    tenant.tenant = "acme";
    CollectedForPerson collected;
    workspace.connector().collect(tenant, collected);
    EXPECT_EQ(collected.lines.size(), 900u - 900u / 30);
    plan = workspace.connector().plan(tenant, {connectors::Action::Kind::erase, {}, {}, {}});
    ASSERT_EQ(plan.items.size(), 1u);
    EXPECT_EQ(plan.items[0].what, "rewrite log objects without the tenant's lines");
    EXPECT_EQ(plan.records(), 900u - 900u / 30);
    workspace.connector().apply(plan, progress);
    EXPECT_TRUE(platform.fetched(key) == bluebird);
    pii::IdentifierMatcher nothing({});
    EXPECT_TRUE(workspace.connector().verify(tenant, nothing).residue.empty());
}

// Uploads as a platform's own service makes them (PeerTube-style uploads/UUID.EXT keys): the
// tenant and the recording time are in the object's metadata, not in its key.
TEST(S3Connector, TenantAndTimeComeFromObjectMetadataAndARewriteKeepsThem) {
    PlatformBucket platform;
    auto& cluster = CephCluster::shared();
    TempDir dir;
    std::string kept, ignored;
    auto put_with_metadata = [&](const std::string& key, const std::string& body, const std::string& tenant,
                                 util::UnixTime recorded) {
        write_text(dir / "body", body);
        cluster.s3cmd("put -q --mime-type=text/plain --add-header=x-amz-meta-tenant:" + tenant +
                      " --add-header=x-amz-meta-recorded-at:" + util::format_iso8601(recorded) + " " +
                      shell_quote((dir / "body").string()) + " " +
                      shell_quote("s3://" + platform.bucket() + "/" + key));
    };
    const std::string old_log = "uploads/0c9a44aa.log";
    put_with_metadata(old_log, PlatformBucket::access_log("acme", 300, 30, kept), "acme", k_now - 100 * 86400);
    put_with_metadata("uploads/5b1f0d8e.log", PlatformBucket::access_log("bluebird", 300, 30, ignored), "bluebird",
                      k_now - 86400);
    put_with_metadata("uploads/77aa0e1f.mp4", "ftypmp4", "acme", k_now - 86400);
    nlohmann::json source = {{"bucket", platform.bucket()},
                             {"prefix", "uploads/"},
                             {"tenant", {{"metadata", "tenant"}}},
                             {"timestamp", {{"metadata", "x-amz-meta-recorded-at"}, {"format", "iso8601"}}}};
    S3Workspace workspace(platform.bucket(), source);

    std::map<std::string, std::uint64_t> per_tenant;
    for (const auto& row : workspace.connector().inventory({}, {}).rows) {
        per_tenant[row.tenant] += row.records;
        if (row.tenant == "acme") {
            EXPECT_EQ(row.oldest, k_now - 100 * 86400);
        }
    }
    EXPECT_EQ(per_tenant, (std::map<std::string, std::uint64_t>{{"acme", 2}, {"bluebird", 1}}));
    EXPECT_EQ(workspace.connector().plan(older_than(k_now - 90 * 86400), {}).records(), 1u);

    // Bob within acme: his lines leave acme's log, which keeps its metadata and content type.
    auto bob = bob_within_acme();
    FaultyProgress progress;
    auto plan = workspace.connector().plan(bob, {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_EQ(plan.records(), 300u / 30);
    workspace.connector().apply(plan, progress);
    EXPECT_TRUE(platform.fetched(old_log) == kept);
    auto headers = cluster.headers_by_curl(platform.bucket(), old_log);
    EXPECT_EQ(headers["x-amz-meta-tenant"], "acme");
    EXPECT_EQ(headers["x-amz-meta-recorded-at"], util::format_iso8601(k_now - 100 * 86400));
    EXPECT_EQ(headers["content-type"], "text/plain");

    // So the purge still finds it expired, and acme's: it goes, the fresh ones stay.
    workspace.connector().apply(workspace.connector().plan(older_than(k_now - 90 * 86400), {}), progress);
    EXPECT_EQ(cluster.keys_by_s3cmd(platform.bucket()),
              (std::vector<std::string>{"uploads/5b1f0d8e.log", "uploads/77aa0e1f.mp4"}));
}

}  // namespace
}  // namespace gdprctl::testing
