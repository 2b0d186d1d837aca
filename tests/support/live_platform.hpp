#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace gdprctl::testing {

// `refstack up` on free loopback ports for the platform seeded in dir (nginx-rtmp recording and
// serving HLS, one ffmpeg publisher per live tenant, viewers fetching from 127.0.0.10-13);
// `refstack down` when destroyed. Throws std::runtime_error with refstack's message.
class LivePlatform {
public:
    explicit LivePlatform(std::filesystem::path dir);
    ~LivePlatform();
    LivePlatform(const LivePlatform&) = delete;
    LivePlatform& operator=(const LivePlatform&) = delete;

    int http_port() const { return m_http_port; }
    void down();

private:
    std::filesystem::path m_dir;
    int m_http_port = 0;
    bool m_up = false;
};

// One HTTP request for a live tenant's playlist from 127.0.0.77, marked probe=number in the
// access log line nginx writes for it; true when nginx answered 200.
bool probe_http(int port, int number);

// Sends probes, numbered from 1, every 2 ms until stopped; remembers which were answered.
class Prober {
public:
    explicit Prober(int port);
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    int sent() const { return m_sent; }
    // Stops sending; the numbers nginx answered.
    const std::vector<int>& stop();

private:
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_sent{0};
    std::vector<int> m_answered;
    std::thread m_thread;
};

// The probe numbers in the access log lines (every access.log* file, gzip or not).
std::vector<int> logged_probes(const std::filesystem::path& logs);

// What a purge that ran while probes were sent did to their lines: the first probe whose line is
// still logged (every earlier one was covered by the purge's plan), and the answered probes from
// there on that are missing from the log (lines lost).
struct PurgedProbes {
    int first_kept = 0;  // 0: none is logged
    std::vector<int> missing;
};
PurgedProbes purged_probes(const std::vector<int>& answered, const std::vector<int>& logged);

// Every line of every access.log* file in logs, gzip or not, read without gdprctl's code.
std::vector<std::string> access_lines(const std::filesystem::path& logs);

struct BrowserRun {
    int exit = -1;
    std::string dom;
    std::vector<std::string> console;  // every console message the page produced
};

// The page as Debian's headless Chromium renders it: its DOM after scripts ran and every
// console message.
BrowserRun render_in_chromium(const std::filesystem::path& page, const std::filesystem::path& profile);

}  // namespace gdprctl::testing
