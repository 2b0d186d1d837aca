// The s3 connector against a real RADOS Gateway (tests/support/ceph-cluster), checked from
// outside with s3cmd and curl: paged listings, a killed purge resumed, multipart objects,
// versioned buckets, and the rescan of log objects' bytes.
#include <gtest/gtest.h>
#include <zlib.h>

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

}  // namespace
}  // namespace gdprctl::testing
