#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

// One person's record as the contract suite places it in every kind of store.
struct SampleRecord {
    std::string tenant;  // "" = platform-wide
    std::string email;
    std::string ip;
    util::UnixTime time;
};

// The records every connector kind is tested with: two tenants sharing a viewer (alice), an
// IPv6 viewer, and one platform-wide record.
const std::vector<SampleRecord>& sample_records();
util::UnixTime sample_now();

// Writes sample_records() into a store of one kind under a temp dir, with a workspace config
// that maps it, and opens the connector.
class StoreFixture {
public:
    virtual ~StoreFixture() = default;
    virtual std::string kind() const = 0;
    virtual bool has_subjects() const = 0;        // files carry no identifiers
    virtual bool detects_undeclared() const = 0;  // an undeclared field with e-mails is planted

    std::unique_ptr<connectors::Connector> open();
    const std::filesystem::path& dir() const { return m_dir.path(); }
    // A digest of everything the store holds, to prove it was not changed.
    virtual std::string store_digest() const;
    const config::Workspace& workspace() const { return m_workspace; }

protected:
    // Writes the store and returns the source object of the config.
    virtual nlohmann::json write_store(const std::filesystem::path& dir) = 0;

private:
    TempDir m_dir;
    config::Workspace m_workspace;
};

std::unique_ptr<StoreFixture> make_fixture(const std::string& kind);
std::vector<std::string> fixture_kinds();

// Records per tenant in an inventory.
std::map<std::string, std::uint64_t> records_by_tenant(const connectors::SourceInventory& inventory);

// A test over every connector kind: the parameter is the kind, SetUp writes the sample store.
class ConnectorFixtureTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        m_fixture = make_fixture(GetParam());
        m_connector = m_fixture->open();
    }
    std::unique_ptr<StoreFixture> m_fixture;
    std::unique_ptr<connectors::Connector> m_connector;
};

// SHA-256 of every file below dir with its relative path, to prove a store was not changed.
std::string tree_digest(const std::filesystem::path& dir);

}  // namespace gdprctl::testing
