// The contract every connector kind must keep, run against each kind on data the test writes.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "tests/support/store_fixtures.hpp"

namespace gdprctl::testing {
namespace {

struct Collected final : connectors::RecordSink {
    std::vector<std::string> tenants;
    std::vector<std::string> texts;
    void record(const config::Dataset&, const std::string& tenant, const nlohmann::json& record) override {
        tenants.push_back(tenant);
        texts.push_back(record.dump());
    }
    void blob(const config::Dataset&, const std::string& tenant, const std::filesystem::path&,
              const std::string& relative) override {
        tenants.push_back(tenant);
        texts.push_back(relative);
    }
    void streamed_blob(const config::Dataset&, const std::string& tenant,
                       const connectors::StreamedBlob& blob) override {
        tenants.push_back(tenant);
        texts.push_back(blob.relative_path);
    }
};

class ConnectorContract : public ConnectorFixtureTest {};

TEST_P(ConnectorContract, InventoryCountsEveryRecordPerTenant) {
    auto inventory = m_connector->inventory({}, {});
    std::map<std::string, std::uint64_t> expected = {{"t1", 2}, {"t2", 2}, {"", 1}};
    EXPECT_EQ(records_by_tenant(inventory), expected);
    EXPECT_EQ(inventory.malformed, 0u);
}

TEST_P(ConnectorContract, InventoryReportsOldestAndNewestPerTenant) {
    auto inventory = m_connector->inventory({}, {});
    for (const auto& row : inventory.rows) {
        if (row.tenant != "t1") continue;
        ASSERT_TRUE(row.oldest && row.newest);
        EXPECT_EQ(*row.oldest, sample_now() - 10 * 86400);
        EXPECT_EQ(*row.newest, sample_now() - 5 * 86400);
    }
}

TEST_P(ConnectorContract, TenantSelectorSeesOnlyThatTenant) {
    connectors::Selector selector;
    selector.tenant = "t2";
    EXPECT_EQ(records_by_tenant(m_connector->inventory(selector, {})),
              (std::map<std::string, std::uint64_t>{{"t2", 2}}));
    Collected collected;
    m_connector->collect(selector, collected);
    ASSERT_EQ(collected.tenants.size(), 2u);
    for (const auto& tenant : collected.tenants) EXPECT_EQ(tenant, "t2");
    if (m_fixture->has_subjects()) {
        for (const auto& text : collected.texts) EXPECT_EQ(text.find("bob@example.org"), std::string::npos) << text;
    }
}

TEST_P(ConnectorContract, OlderThanSelectsOnlyRecordsBeforeTheCutOff) {
    connectors::Selector selector;
    selector.older_than = sample_now() - 5 * 86400;  // exactly bob's time: bob is not older
    auto counts = records_by_tenant(m_connector->inventory(selector, {}));
    EXPECT_EQ(counts, (std::map<std::string, std::uint64_t>{{"t1", 1}}));
}

TEST_P(ConnectorContract, SubjectSelectorFollowsThePersonAcrossTenants) {
    if (!m_fixture->has_subjects()) GTEST_SKIP() << "this kind holds no identifiers";
    connectors::Selector selector;
    selector.subjects = {connectors::parse_identifier("email:ALICE@example.org")};
    Collected collected;
    m_connector->collect(selector, collected);
    EXPECT_EQ(std::multiset<std::string>(collected.tenants.begin(), collected.tenants.end()),
              (std::multiset<std::string>{"t1", "t2"}));
}

TEST_P(ConnectorContract, SubjectSelectorMatchesIpv6InAnyTextualForm) {
    if (!m_fixture->has_subjects()) GTEST_SKIP() << "this kind holds no identifiers";
    connectors::Selector selector;
    selector.subjects = {connectors::parse_identifier("ip:2001:DB8:0:0::7")};
    EXPECT_EQ(records_by_tenant(m_connector->inventory(selector, {})),
              (std::map<std::string, std::uint64_t>{{"t1", 1}}));
}

TEST_P(ConnectorContract, VerifyFindsWhatIsPresentAndNothingForAStranger) {
    connectors::Selector present;
    present.tenant = "t1";
    pii::IdentifierMatcher none({});
    auto report = m_connector->verify(present, none);
    ASSERT_FALSE(report.residue.empty());
    EXPECT_GT(report.records_scanned, 0u);

    connectors::Selector stranger;
    stranger.tenant = "t9";
    EXPECT_TRUE(m_connector->verify(stranger, none).residue.empty());
    if (m_fixture->has_subjects()) {
        pii::IdentifierMatcher zed({"zed@example.org"});
        connectors::Selector subject;
        subject.subjects = {connectors::parse_identifier("email:zed@example.org")};
        EXPECT_TRUE(m_connector->verify(subject, zed).residue.empty());
        pii::IdentifierMatcher carol({"carol@example.org"});
        subject.subjects = {connectors::parse_identifier("email:carol@example.org")};
        EXPECT_FALSE(m_connector->verify(subject, carol).residue.empty());
    }
}

TEST_P(ConnectorContract, UndeclaredPersonalDataIsReported) {
    if (!m_fixture->detects_undeclared()) GTEST_SKIP() << "this kind has no undeclared fields";
    auto inventory = m_connector->inventory({}, {});
    ASSERT_EQ(inventory.undeclared.size(), 1u);
    EXPECT_EQ(inventory.undeclared[0].detector, "email");
    EXPECT_EQ(inventory.undeclared[0].hits, inventory.undeclared[0].sampled);
}

TEST_P(ConnectorContract, ReadingChangesNothingInTheStore) {
    auto before = m_fixture->store_digest();
    m_connector->inventory({}, {});
    Collected collected;
    m_connector->collect({}, collected);
    m_connector->verify({}, pii::IdentifierMatcher({"alice@example.org"}));
    EXPECT_EQ(m_fixture->store_digest(), before);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, ConnectorContract, ::testing::ValuesIn(fixture_kinds()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gdprctl::testing
