// The files connector on a tree laid out as a video platform keeps it on disk (per tenant:
// user-exports/USERID-UUID.zip, web-videos/), checked from outside with std::filesystem.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"
#include "core/error.hpp"
#include "tests/support/fault_progress.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

class FilesTree {
public:
    explicit FilesTree(nlohmann::json extra) {
        for (const auto* file : {"acme/user-exports/42-5b1f0d8e.zip", "acme/user-exports/421-77aa0e1f.zip",
                                 "acme/web-videos/3f6c2b1a-720.mp4", "bluebird/user-exports/42-0c9a44aa.zip"}) {
            std::filesystem::create_directories((m_dir / "media" / file).parent_path());
            write_text(m_dir / "media" / file, file);
        }
        nlohmann::json source = {{"name", "media"},
                                 {"kind", "files"},
                                 {"path", "media"},
                                 {"category", "recordings"},
                                 {"tenant", {{"regex", "^([^/]+)/"}}}};
        source.update(extra);
        write_text(m_dir / "gdprctl.json", nlohmann::json({{"platform", "files"}, {"sources", {source}}}).dump(2));
        m_workspace = config::load_workspace(m_dir / "gdprctl.json");
        m_connector = connectors::open_connector(m_workspace.sources.front(), m_workspace);
    }
    connectors::Connector& connector() { return *m_connector; }
    std::vector<std::string> files() const {
        std::vector<std::string> found;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(m_dir / "media"))
            if (entry.is_regular_file()) found.push_back(entry.path().lexically_relative(m_dir / "media").string());
        std::sort(found.begin(), found.end());
        return found;
    }

private:
    TempDir m_dir;
    config::Workspace m_workspace;
    std::unique_ptr<connectors::Connector> m_connector;
};

connectors::Selector user_42_of_acme() {
    connectors::Selector selector;
    selector.tenant = "acme";
    selector.subjects = {{"user", "42"}};
    return selector;
}

TEST(FilesConnector, APersonsErasureTakesOnlyTheFilesWhosePathNamesThemAndNoneWithoutSubjectPatterns) {
    // Declared subjects once took a person's selector for every file of the tenant.
    FilesTree with_subjects(nlohmann::json{{"subjects", {{"user", {"/user-exports/([0-9]+)-"}}}}});
    auto plan = with_subjects.connector().plan(user_42_of_acme(), {connectors::Action::Kind::erase, {}, {}, {}});
    EXPECT_EQ(plan.records(), 1u);
    FaultyProgress progress;
    with_subjects.connector().apply(plan, progress);
    EXPECT_EQ(with_subjects.files(),
              (std::vector<std::string>{"acme/user-exports/421-77aa0e1f.zip", "acme/web-videos/3f6c2b1a-720.mp4",
                                        "bluebird/user-exports/42-0c9a44aa.zip"}));
    pii::IdentifierMatcher nothing({});
    EXPECT_TRUE(with_subjects.connector().verify(user_42_of_acme(), nothing).residue.empty());

    FilesTree without(nlohmann::json::object());
    EXPECT_EQ(without.connector().plan(user_42_of_acme(), {connectors::Action::Kind::erase, {}, {}, {}}).records(), 0u);
    EXPECT_EQ(without.files().size(), 4u);
}

TEST(FilesConnector, ASubjectPatternThatIsNoRegexIsRefusedAtItsPointer) {
    try {
        FilesTree tree(nlohmann::json{{"subjects", {{"user", {"/user-exports/([0-9]+-"}}}}});
        FAIL() << "a pattern that does not compile was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        EXPECT_NE(std::string(e.what()).find("/sources/0/subjects/user"), std::string::npos) << e.what();
        EXPECT_NE(e.hint().find("first group"), std::string::npos) << e.hint();
    }
}

TEST(FilesConnector, MetadataAsTheSourceOfATenantIsRefusedForFilesWhichHaveNone) {
    try {
        FilesTree tree(nlohmann::json{{"tenant", {{"metadata", "tenant"}}}});
        FAIL() << "a tenant from metadata was accepted for files";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        EXPECT_NE(std::string(e.what()).find("/sources/0/tenant/metadata: files have no metadata"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace gdprctl::testing
