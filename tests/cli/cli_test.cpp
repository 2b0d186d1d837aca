// The binary as users and scripts meet it: exit codes, messages, and nothing written on bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
    return run_command(std::string(GDPRCTL_BINARY) + " " + args, out, err);
}

std::vector<std::string> files_below(const std::filesystem::path& dir) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    return files;
}

TEST(Cli, VersionAndHelpExitZero) {
    std::string out;
    EXPECT_EQ(gdprctl("--version", &out), 0);
    EXPECT_NE(out.find("gdprctl 0."), std::string::npos);
    EXPECT_EQ(gdprctl("--help", &out), 0);
    EXPECT_NE(out.find("scan"), std::string::npos);
    EXPECT_NE(out.find("journal"), std::string::npos);
    for (const char* command : {"keys", "backup", "container"}) EXPECT_NE(out.find(command), std::string::npos);
    EXPECT_EQ(gdprctl("scan --help", &out), 0);
    EXPECT_NE(out.find("--tenant"), std::string::npos);
}

TEST(Cli, UnknownCommandIsAUsageErrorWithSuggestion) {
    std::string err;
    EXPECT_EQ(gdprctl("scna", nullptr, &err), 2);
    EXPECT_NE(err.find("gdprctl: error:"), std::string::npos) << err;
    EXPECT_NE(err.find("did you mean \"scan\""), std::string::npos) << err;
}

TEST(Cli, BadOptionValueIsAUsageError) {
    std::string err;
    EXPECT_EQ(gdprctl("--format yaml scan", nullptr, &err), 2);
    EXPECT_NE(err.find("gdprctl: error:"), std::string::npos) << err;
}

TEST(Cli, MissingConfigIsAConfigErrorAndWritesNothing) {
    TempDir dir;
    std::string err;
    EXPECT_EQ(gdprctl("--config " + (dir / "gdprctl.json").string() + " scan", nullptr, &err), 2);
    EXPECT_NE(err.find("not found"), std::string::npos) << err;
    EXPECT_NE(err.find("gdprctl: hint:"), std::string::npos) << err;
    EXPECT_TRUE(files_below(dir.path()).empty());
}

TEST(Cli, InvalidJsonNamesTheLineAndWritesNothing) {
    TempDir dir;
    write_text(dir / "gdprctl.json", "{\n \"platform\": \"p\",\n \"sources\": [,]\n}\n");
    std::string err;
    EXPECT_EQ(gdprctl("--config " + (dir / "gdprctl.json").string() + " scan", nullptr, &err), 2);
    EXPECT_NE(err.find("gdprctl.json:3:"), std::string::npos) << err;
    EXPECT_EQ(files_below(dir.path()).size(), 1u);
}

TEST(Cli, CorruptSqliteIsARuntimeErrorNamingTheSourceAndOnlyTheJournalIsWritten) {
    TempDir dir;
    write_text(dir / "platform.db", std::string(8192, 'Z'));
    write_text(dir / "gdprctl.json",
               R"({"platform": "p", "sources": [{"name": "db", "kind": "sqlite", "path": "platform.db",
      "tables": [{"table": "viewers", "category": "streaming-data", "subjects": {"email": "email"}}]}]})");
    auto before = read_text(dir / "platform.db");
    std::string err;
    EXPECT_EQ(gdprctl("--config " + (dir / "gdprctl.json").string() + " scan", nullptr, &err), 3);
    EXPECT_NE(err.find("source \"db\""), std::string::npos) << err;
    EXPECT_NE(err.find("platform.db"), std::string::npos) << err;
    EXPECT_EQ(read_text(dir / "platform.db"), before);
    std::string out;
    ASSERT_EQ(gdprctl("--config " + (dir / "gdprctl.json").string() + " --format json journal show", &out), 0);
    auto entries = nlohmann::json::parse(out);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0]["outcome"].get<std::string>().rfind("error:", 0), 0u);
}

TEST(Cli, UnreadableLogFileIsARuntimeError) {
    TempDir dir;
    write_text(dir / "access.log", "x\n");
    std::filesystem::permissions(dir / "access.log", std::filesystem::perms::none);
    write_text(dir / "gdprctl.json",
               R"({"platform": "p", "state_dir": "state", "sources": [{"name": "web", "kind": "logfile",
      "path": "access.log", "format": "combined", "category": "usage-data", "subjects": {"ip": "remote_addr"}}]})");
    std::string command = std::string(GDPRCTL_BINARY) + " --config " + (dir / "gdprctl.json").string() + " scan";
    if (::geteuid() == 0) {
        // root reads any file: run as an unprivileged user who may write only the state dir.
        std::filesystem::create_directory(dir / "state");
        std::filesystem::permissions(dir / "state", std::filesystem::perms::all);
        std::filesystem::permissions(dir.path(),
                                     std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                         std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                         std::filesystem::perms::others_exec);
        command = "runuser -u nobody -- " + command;
    }
    std::string err;
    EXPECT_EQ(run_command(command, nullptr, &err), 3) << err;
    EXPECT_NE(err.find("access.log"), std::string::npos) << err;
    EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
}

TEST(Cli, JournalVerifyExitsFourOnATamperedJournal) {
    TempDir dir;
    write_text(dir / "access.log",
               "192.0.2.1 - - [23/Nov/2026:15:25:10 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"\n");
    write_text(dir / "gdprctl.json",
               R"({"platform": "p", "sources": [{"name": "web", "kind": "logfile", "path": "access.log",
      "format": "combined", "category": "usage-data", "subjects": {"ip": "remote_addr"}}]})");
    std::string config = "--config " + (dir / "gdprctl.json").string();
    ASSERT_EQ(gdprctl(config + " scan"), 0);
    ASSERT_EQ(gdprctl(config + " scan"), 0);
    std::string out;
    EXPECT_EQ(gdprctl(config + " journal verify", &out), 0);
    EXPECT_NE(out.find("2 entries"), std::string::npos) << out;
    ASSERT_EQ(run_command("sqlite3 " + (dir / ".gdprctl" / "state.db").string() +
                          " \"UPDATE journal SET outcome = 'findings' WHERE seq = 1\""),
              0);
    EXPECT_EQ(gdprctl(config + " journal verify", &out), 4);
    EXPECT_NE(out.find("entry 1"), std::string::npos) << out;
}

}  // namespace
}  // namespace gdprctl::testing
