// plan and apply, as retention uses them, against every connector kind.
#include <gtest/gtest.h>

#include <map>

#include "core/error.hpp"
#include "tests/support/fault_progress.hpp"
#include "tests/support/store_fixtures.hpp"

namespace gdprctl::testing {
namespace {

std::map<std::string, std::uint64_t> records_by_tenant(connectors::Connector& connector) {
    return gdprctl::testing::records_by_tenant(connector.inventory({}, {}));
}

connectors::Selector expired_before(util::UnixTime cutoff) {
    connectors::Selector selector;
    selector.older_than = cutoff;
    return selector;
}

class ApplyContract : public ConnectorFixtureTest {};

TEST_P(ApplyContract, PlanChangesNothingAndCountsTheExpired) {
    auto before = m_fixture->store_digest();
    auto plan = m_connector->plan(expired_before(sample_now() - 5 * 86400), {});
    EXPECT_EQ(plan.records(), 1u);  // alice's t1 visit, 10 days old; bob at exactly the cut-off stays
    EXPECT_EQ(plan.source_records, 5u);
    EXPECT_EQ(plan.newest, sample_now());
    EXPECT_EQ(m_fixture->store_digest(), before);
}

TEST_P(ApplyContract, ApplyRemovesExactlyTheExpiredAndASecondRunChangesNothing) {
    auto plan = m_connector->plan(expired_before(sample_now() - 2 * 86400), {});
    ASSERT_EQ(plan.records(), 2u);
    FaultyProgress progress;
    auto report = m_connector->apply(plan, progress);
    EXPECT_EQ(report.records_changed, 2u);
    EXPECT_EQ(records_by_tenant(*m_connector), (std::map<std::string, std::uint64_t>{{"t2", 2}, {"", 1}}));
    auto again = m_connector->plan(expired_before(sample_now() - 2 * 86400), {});
    EXPECT_EQ(again.records(), 0u);
}

TEST_P(ApplyContract, ATenantScopeLeavesOtherTenantsAlone) {
    auto selector = expired_before(sample_now() + 86400);
    selector.exclude_tenants = {"t2"};
    FaultyProgress progress;
    m_connector->apply(m_connector->plan(selector, {}), progress);
    EXPECT_EQ(records_by_tenant(*m_connector), (std::map<std::string, std::uint64_t>{{"t2", 2}}));
}

TEST_P(ApplyContract, AKilledApplyResumesToTheSameEndAndCountsOnce) {
    auto plan = m_connector->plan(expired_before(sample_now() - 86400 / 2), {});
    ASSERT_EQ(plan.records(), 4u);
    // Die at the first durable step; a second run with the same plan and progress finishes.
    FaultyProgress progress(1);
    try {
        m_connector->apply(plan, progress);
    } catch (const FaultyProgress::Killed&) {
    }
    progress.heal();
    auto report = m_connector->apply(plan, progress);
    EXPECT_EQ(report.records_changed, 4u);
    EXPECT_EQ(records_by_tenant(*m_connector), (std::map<std::string, std::uint64_t>{{"", 1}}));
}

TEST_P(ApplyContract, ApplyRefusesAPlanTheStoreHasOutgrown) {
    auto plan = m_connector->plan(expired_before(sample_now() - 5 * 86400), {});
    ASSERT_EQ(plan.records(), 1u);
    for (auto& item : plan.items) item.records = 0;  // as if more expired records had appeared since
    FaultyProgress progress;
    if (GetParam() == "logfile") GTEST_SKIP() << "log files are checked by inode and size instead";
    EXPECT_THROW(m_connector->apply(plan, progress), Error);
    EXPECT_EQ(records_by_tenant(*m_connector).at("t1"), 2u);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, ApplyContract, ::testing::ValuesIn(fixture_kinds()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gdprctl::testing
