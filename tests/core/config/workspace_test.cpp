#include "core/config/workspace.hpp"

#include <gtest/gtest.h>

#include "connectors/connector.hpp"
#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::config {
namespace {

using gdprctl::testing::TempDir;
using gdprctl::testing::write_text;

// Loads text as gdprctl.json and opens and validates every source; returns the error text.
std::string error_of(const TempDir& dir, const std::string& text, std::string* hint = nullptr) {
    write_text(dir / "gdprctl.json", text);
    try {
        auto workspace = load_workspace(dir / "gdprctl.json");
        connectors::open_all_connectors(workspace);
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2) << e.what();
        if (hint) *hint = e.hint();
        return e.what();
    }
    return "";
}

const char* const k_log_source = R"({"name": "web", "kind": "logfile", "path": "access.log", "format": "combined",
  "category": "usage-data", "subjects": {"ip": "remote_addr"}})";

class WorkspaceConfig : public ::testing::Test {
protected:
    void SetUp() override { write_text(m_dir / "access.log", ""); }
    TempDir m_dir;
};

TEST_F(WorkspaceConfig, LoadsAValidConfigAndResolvesPathsFromItsDirectory) {
    write_text(m_dir / "gdprctl.json", std::string(R"({"platform": "p", "sources": [)") + k_log_source + "]}");
    auto workspace = load_workspace(m_dir / "gdprctl.json");
    EXPECT_EQ(workspace.platform, "p");
    ASSERT_EQ(workspace.sources.size(), 1u);
    EXPECT_EQ(workspace.sources[0].path, std::filesystem::canonical(m_dir.path()) / "access.log");
    EXPECT_EQ(workspace.state_dir, std::filesystem::canonical(m_dir.path()) / ".gdprctl");
}

TEST_F(WorkspaceConfig, BackupDirectoryDefaultsBesideTheConfigAndCanBeSet) {
    write_text(m_dir / "gdprctl.json", std::string(R"({"platform": "p", "sources": [)") + k_log_source + "]}");
    EXPECT_EQ(load_workspace(m_dir / "gdprctl.json").backup_dir, std::filesystem::canonical(m_dir.path()) / "backups");
    write_text(m_dir / "gdprctl.json",
               std::string(R"({"platform": "p", "backups": {"dir": "/srv/bk"}, "sources": [)") + k_log_source + "]}");
    EXPECT_EQ(load_workspace(m_dir / "gdprctl.json").backup_dir, "/srv/bk");
    std::string hint;
    auto error = error_of(
        m_dir, std::string(R"({"platform": "p", "backups": {"dri": "x"}, "sources": [)") + k_log_source + "]}", &hint);
    EXPECT_NE(error.find("/backups/dri: unknown key"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, SyntaxErrorNamesFileLineAndColumn) {
    auto error = error_of(m_dir, "{\n  \"platform\": \"p\",\n  \"sources\": [ }\n");
    EXPECT_NE(error.find("gdprctl.json:3:"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, UnknownTopLevelKeyIsAnErrorWithSuggestion) {
    std::string hint;
    auto error = error_of(
        m_dir, std::string(R"({"platform": "p", "state_dri": "x", "sources": [)") + k_log_source + "]}", &hint);
    EXPECT_NE(error.find("gdprctl.json: /state_dri: unknown key"), std::string::npos) << error;
    EXPECT_NE(hint.find("state_dir"), std::string::npos) << hint;
}

TEST_F(WorkspaceConfig, TypoInADataMapKeyIsAnErrorNotSilence) {
    std::string hint;
    auto error =
        error_of(m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage-data", "subjets": {"ip": "remote_addr"}, "personal": ["http_user_agent"]}]})",
                 &hint);
    EXPECT_NE(error.find("/sources/0/subjets: unknown key"), std::string::npos) << error;
    EXPECT_NE(hint.find("subjects"), std::string::npos) << hint;
}

TEST_F(WorkspaceConfig, WrongTypeNamesThePointer) {
    auto error = error_of(m_dir, R"({"platform": 7, "sources": []})");
    EXPECT_NE(error.find("/platform: expected a string, found number"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, UnknownCategoryAndIdentifierKindAreErrors) {
    auto error =
        error_of(m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage_data", "subjects": {"ip": "remote_addr"}}]})");
    EXPECT_NE(error.find("/sources/0/category: unknown category \"usage_data\""), std::string::npos) << error;
    error = error_of(m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage-data", "subjects": {"mail": "remote_user"}}]})");
    EXPECT_NE(error.find("/sources/0/subjects/mail: unknown identifier kind"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, UnknownConnectorKindSuggestsTheClosest) {
    std::string hint;
    auto error =
        error_of(m_dir, R"({"platform": "p", "sources": [{"name": "db", "kind": "sqlte", "path": "x.db"}]})", &hint);
    EXPECT_NE(error.find("/sources/0/kind: unknown connector kind \"sqlte\""), std::string::npos) << error;
    EXPECT_NE(hint.find("sqlite"), std::string::npos);
}

TEST_F(WorkspaceConfig, DuplicateSourceNamesAreRejected) {
    auto error =
        error_of(m_dir, std::string(R"({"platform": "p", "sources": [)") + k_log_source + "," + k_log_source + "]}");
    EXPECT_NE(error.find("/sources/1/name: duplicate source name"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, MissingSourcePathNamesTheSource) {
    auto error = error_of(
        m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "nowhere/access.log",
      "format": "combined", "category": "usage-data", "subjects": {"ip": "remote_addr"}}]})");
    EXPECT_NE(error.find("/sources/0/path: directory"), std::string::npos) << error;
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, LogFieldMustExistInTheFormat) {
    std::string hint;
    auto error =
        error_of(m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage-data", "subjects": {"ip": "remote_adr"}}]})",
                 &hint);
    EXPECT_NE(error.find("field \"remote_adr\" is not in the log format"), std::string::npos) << error;
    EXPECT_NE(hint.find("remote_addr"), std::string::npos) << hint;
}

TEST_F(WorkspaceConfig, SqlColumnMustExistAndTheErrorSuggestsTheClosest) {
    gdprctl::testing::run_command("sqlite3 " + (m_dir / "p.db").string() +
                                  " 'CREATE TABLE viewers (id INTEGER, email TEXT, seen_at TEXT)'");
    std::string hint;
    auto error = error_of(m_dir, R"({"platform": "p", "sources": [{"name": "db", "kind": "sqlite", "path": "p.db",
      "tables": [{"table": "viewers", "category": "streaming-data", "subjects": {"email": "email"},
                  "timestamp": {"column": "seen"}}]}]})",
                          &hint);
    EXPECT_NE(error.find("/sources/0/tables/0/timestamp: column \"seen\" not found in table viewers"),
              std::string::npos)
        << error;
    EXPECT_NE(hint.find("seen_at"), std::string::npos) << hint;
    error = error_of(m_dir, R"({"platform": "p", "sources": [{"name": "db", "kind": "sqlite", "path": "p.db",
      "tables": [{"table": "viewer", "category": "streaming-data", "subjects": {"email": "email"}}]}]})");
    EXPECT_NE(error.find("/sources/0/tables/0/table: table \"viewer\" not found"), std::string::npos) << error;
}

TEST_F(WorkspaceConfig, InvalidTenantRegexIsAConfigError) {
    auto error =
        error_of(m_dir, R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage-data", "subjects": {"ip": "remote_addr"},
      "tenant": {"field": "request", "regex": "([a-z"}}]})");
    EXPECT_NE(error.find("/sources/0/tenant/regex: invalid regex"), std::string::npos) << error;
}

}  // namespace
}  // namespace gdprctl::config
