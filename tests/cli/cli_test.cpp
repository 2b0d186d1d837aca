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

TEST(Cli, HelpListsTheCommandsUnderWhoUsesThem) {
    std::string out;
    ASSERT_EQ(gdprctl("--help", &out), 0);
    auto compliance = out.find("Compliance"), operations = out.find("Operations"),
         requests = out.find("Customers' requests"), ci = out.find("\nCI:");
    ASSERT_NE(ci, std::string::npos) << out;
    EXPECT_LT(compliance, out.find("  register "));
    EXPECT_LT(out.find("  register "), operations);
    EXPECT_LT(operations, out.find("  retention "));
    EXPECT_LT(out.find("  retention "), requests);
    EXPECT_LT(requests, out.find("  erase "));
    EXPECT_LT(out.find("  erase "), ci);
    EXPECT_LT(ci, out.find("  check "));
}

// Completes as bash does on TAB: COMP_WORDS and COMP_CWORD set, then the completion function.
std::string bash_completions(const std::filesystem::path& script, const std::string& words) {
    std::string out, err;
    EXPECT_EQ(run_command("bash -c " + shell_quote("source " + script.string() + "; COMP_WORDS=(" + words +
                                                   "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _gdprctl; "
                                                   "printf '%s\\n' \"${COMPREPLY[@]}\""),
                          &out, &err),
              0)
        << err;
    return out;
}

TEST(Completion, BashCompletesCommandsOptionsAndTheirValuesFromTheCommandTable) {
    TempDir dir;
    std::string script;
    ASSERT_EQ(gdprctl("completion bash", &script), 0);
    write_text(dir / "gdprctl.bash", script);
    auto at = [&](const std::string& words) { return bash_completions(dir / "gdprctl.bash", words); };
    EXPECT_EQ(at("gdprctl er"), "erase\n");
    EXPECT_EQ(at("gdprctl erase ''"), "verify\nlist\n");
    EXPECT_EQ(at("gdprctl --config x.json erase verify --req"), "--request\n");
    EXPECT_EQ(at("gdprctl erase --subject-f"), "--subject-file\n");
    EXPECT_EQ(at("gdprctl --format ''"), "text\njson\n");
    EXPECT_EQ(at("gdprctl export --format ''"), "zip\ntar.gz\ntar.zst\n");
    EXPECT_EQ(at("gdprctl retention apply --con"), "--config\n") << "a global option after the command";
    // An option's value that is a file: the file names in the current directory.
    write_text(dir / "plan-2026.json", "{}");
    EXPECT_EQ(bash_completions(dir / "gdprctl.bash",
                               "gdprctl retention apply --plan " + shell_quote((dir / "plan-").string())),
              (dir / "plan-2026.json").string() + "\n");
}

TEST(Completion, ZshScriptParsesAndOffersWhatBashOffers) {
    TempDir dir;
    std::string script;
    ASSERT_EQ(gdprctl("completion zsh", &script), 0);
    EXPECT_EQ(script.rfind("#compdef gdprctl\n", 0), 0u);
    write_text(dir / "_gdprctl", script);
    std::string err;
    ASSERT_EQ(run_command("zsh -n " + (dir / "_gdprctl").string(), nullptr, &err), 0) << err;
    // zsh's completion builtins replaced by ones that print what they were given.
    auto at = [&](const std::string& words) {
        std::string out;
        EXPECT_EQ(
            run_command(
                "zsh -f -c " + shell_quote("_describe() { print -l -- ${(P)4}; }; compadd() { print -l -- ${(P)2}; }; "
                                           "_files() { print FILES; }; words=(" +
                                           words + "); CURRENT=${#words}; source " + (dir / "_gdprctl").string()),
                &out, &err),
            0)
            << err;
        return out;
    };
    EXPECT_NE(at("gdprctl ''").find("erase:Erase a tenant or a person everywhere"), std::string::npos);
    EXPECT_EQ(at("gdprctl export --format ''"), "zip\ntar.gz\ntar.zst\n");
    EXPECT_EQ(at("gdprctl retention apply --plan ''"), "FILES\n");
    EXPECT_NE(at("gdprctl erase --").find("--subject:"), std::string::npos);
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
