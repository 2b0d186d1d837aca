#include "tests/support/live_platform.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

LivePlatform::LivePlatform(std::filesystem::path dir) : m_dir(std::move(dir)), m_http_port(free_loopback_port()) {
    std::string err;
    if (run_command(std::string(REFSTACK_BINARY) + " up --dir " + shell_quote(m_dir.string()) + " --http-port " +
                        std::to_string(m_http_port) + " --rtmp-port " + std::to_string(free_loopback_port()),
                    nullptr, &err) != 0)
        throw std::runtime_error("refstack up failed: " + err);
    m_up = true;
}

LivePlatform::~LivePlatform() { down(); }

void LivePlatform::down() {
    if (!m_up) return;
    run_command(std::string(REFSTACK_BINARY) + " down --dir " + shell_quote(m_dir.string()));
    m_up = false;
}

bool probe_http(int port, int number) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{}, remote{};
    local.sin_family = remote.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.77", &local.sin_addr);
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    remote.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = false;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0) {
        std::string request =
            "GET /hls/acme/main.m3u8?probe=" + std::to_string(number) + " HTTP/1.0\r\nHost: x\r\n\r\n";
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        char buffer[4096];
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        ok = n > 12 && std::string(buffer, 12) == "HTTP/1.1 200";
        while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
        }
    }
    ::close(fd);
    return ok;
}

Prober::Prober(int port)
    : m_thread([this, port] {
          for (int n = 1; !m_stop; ++n) {
              if (probe_http(port, n)) m_answered.push_back(n);
              m_sent = n;
              std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
      }) {}

Prober::~Prober() { stop(); }

const std::vector<int>& Prober::stop() {
    m_stop = true;
    if (m_thread.joinable()) m_thread.join();
    return m_answered;
}

std::vector<std::string> access_lines(const std::filesystem::path& logs) {
    std::vector<std::string> lines;
    for (const auto& entry : std::filesystem::directory_iterator(logs)) {
        auto name = entry.path().filename().string();
        if (name.rfind("access.log", 0) != 0) continue;
        gzFile file = gzopen(entry.path().c_str(), "rb");
        std::string text;
        char buffer[65536];
        int n;
        while ((n = gzread(file, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
        gzclose(file);
        std::size_t start = 0;
        for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
            lines.push_back(text.substr(start, end - start));
    }
    return lines;
}

std::vector<int> logged_probes(const std::filesystem::path& logs) {
    static const std::regex k_probe("probe=([0-9]+) ");
    std::vector<int> numbers;
    for (const auto& line : access_lines(logs)) {
        std::smatch match;
        if (std::regex_search(line, match, k_probe)) numbers.push_back(std::stoi(match[1].str()));
    }
    std::sort(numbers.begin(), numbers.end());
    return numbers;
}

PurgedProbes purged_probes(const std::vector<int>& answered, const std::vector<int>& logged) {
    PurgedProbes result;
    if (logged.empty()) return result;
    result.first_kept = logged.front();
    for (int n : answered)
        if (n >= result.first_kept && !std::binary_search(logged.begin(), logged.end(), n)) result.missing.push_back(n);
    return result;
}

BrowserRun render_in_chromium(const std::filesystem::path& page, const std::filesystem::path& profile) {
    BrowserRun run;
    std::string err;
    run.exit = run_command("chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
                               profile.string() + " --enable-logging=stderr --v=0 --dump-dom file://" + page.string(),
                           &run.dom, &err);
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);)
        if (line.find(":CONSOLE") != std::string::npos) run.console.push_back(line);
    return run;
}

}  // namespace gdprctl::testing
