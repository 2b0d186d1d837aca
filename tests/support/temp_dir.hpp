#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace gdprctl::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

// Runs a shell command line (pipes and redirections allowed) with stdin from /dev/null;
// returns its exit status and puts stdout in out, stderr in err.
int run_command(const std::string& command, std::string* out = nullptr, std::string* err = nullptr);

// Starts argv (its output discarded) once per delay and kills it with SIGKILL that many
// milliseconds later: a run interrupted at the worst moments, for the resumability tests.
void run_and_kill_after(const std::vector<std::string>& argv, std::initializer_list<int> delays_ms);

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port();

// Quotes text for a POSIX shell.
std::string shell_quote(const std::string& text);

}  // namespace gdprctl::testing
