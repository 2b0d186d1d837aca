#include "tests/refstack/stack.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/util/fs.hpp"
#include "tests/refstack/seed.hpp"

namespace gdprctl::refstack {

namespace {

using namespace std::chrono_literals;

constexpr int k_viewers = 4;

std::string nginx_config(const StackOptions& options, const std::filesystem::path& dir) {
    std::string d = dir.string();
    std::ostringstream c;
    c << "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n";
    // As root, workers would drop to nobody and fail to write recordings silently.
    if (::geteuid() == 0) c << "user root root;\n";
    c << "worker_processes 1;\ndaemon off;\nmaster_process on;\npid " << d << "/run/nginx.pid;\n"
      << "error_log " << d << "/logs/error.log info;\nevents { worker_connections 256; }\n"
      << "rtmp {\n  access_log " << d
      << "/logs/rtmp_access.log;\n  server {\n    listen 127.0.0.1:" << options.rtmp_port
      << ";\n    chunk_size 4096;\n";
    for (int t = 0; t < options.tenants; ++t) {
        std::string tenant = tenant_id(t);
        c << "    application " << tenant << " {\n      live on;\n      record all;\n      record_path " << d
          << "/recordings/" << tenant << ";\n      record_suffix -%Y%m%d-%H%M%S.flv;\n      record_unique off;\n"
          << "      hls on;\n      hls_path " << d << "/hls/" << tenant
          << ";\n      hls_fragment 2s;\n      hls_playlist_length 10s;\n      hls_cleanup off;\n    }\n";
    }
    c << "  }\n}\nhttp {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n";
    for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
        c << "  " << temp << "_temp_path " << d << "/tmp/" << temp << ";\n";
    c << "  log_format viewer '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
         "\"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\" rt=$request_time';\n"
      << "  access_log " << d << "/logs/access.log viewer;\n"
      << "  server {\n    listen 127.0.0.1:" << options.http_port << ";\n"
      << "    location /hls/ { types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; } alias " << d
      << "/hls/; add_header Cache-Control no-cache; }\n"
      << "    location /stat { rtmp_stat all; }\n  }\n}\n";
    return c.str();
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::setsid();  // outlive `refstack up`; `refstack down` stops it by pid
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

bool process_alive(pid_t pid) {
    if (::kill(pid, 0) != 0) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = content.rfind(')');
    return close == std::string::npos || content.size() < close + 3 || content[close + 2] != 'Z';
}

// One HTTP/1.0 GET from a chosen loopback source address; returns the body ("" on failure).
std::string http_get(const std::string& source_ip, int port, const std::string& path, const std::string& agent) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source_ip.c_str(), &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string response;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0) {
        std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: " + agent + "\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            char buffer[65536];
            ssize_t n;
            while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    auto body = response.find("\r\n\r\n");
    if (response.compare(0, 12, "HTTP/1.1 200") != 0 || body == std::string::npos) return "";
    return response.substr(body + 4);
}

// Every viewer fetches every live tenant's playlist and the segments it lists.
int viewer_round(const StackOptions& options) {
    int fetched = 0;
    for (int v = 0; v < k_viewers; ++v) {
        std::string ip = "127.0.0." + std::to_string(10 + v);
        std::string agent = "RefstackViewer/" + std::to_string(v) + " (gdprctl reference platform)";
        for (int t = 0; t < options.tenants; ++t) {
            std::string base = "/hls/" + tenant_id(t) + "/";
            std::string playlist = http_get(ip, options.http_port, base + "main.m3u8", agent);
            if (playlist.empty()) continue;
            ++fetched;
            std::istringstream lines(playlist);
            std::string line;
            while (std::getline(lines, line))
                if (!line.empty() && line[0] != '#') http_get(ip, options.http_port, base + line, agent);
        }
    }
    return fetched;
}

bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (ready()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return ready();
}

bool port_open(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0;
    ::close(fd);
    return open;
}

void record_pid(const std::filesystem::path& dir, const std::string& name, pid_t pid) {
    std::ofstream(dir / "run" / "pids", std::ios::app) << name << " " << pid << "\n";
}

}  // namespace

void stack_up(const StackOptions& options) {
    auto dir = std::filesystem::absolute(options.dir).lexically_normal();
    if (std::filesystem::exists(dir / "run" / "pids"))
        throw std::runtime_error("a stack is already up in " + dir.string() + " (run 'refstack down --dir " +
                                 dir.string() + "')");
    if (!std::filesystem::exists(dir / "gdprctl.json")) {
        SeedOptions seed;
        seed.dir = dir;
        seed.tenants = std::max(4, options.tenants);
        seed_platform(seed);
    }
    for (const char* sub : {"run", "tmp", "logs", "conf"}) std::filesystem::create_directories(dir / sub);
    for (int t = 0; t < options.tenants; ++t) {
        std::filesystem::create_directories(dir / "recordings" / tenant_id(t));
        std::filesystem::create_directories(dir / "hls" / tenant_id(t));
    }
    util::write_file_atomically(dir / "conf" / "nginx.conf", nginx_config(options, dir), 0644);
    if (port_open(options.http_port) || port_open(options.rtmp_port))
        throw std::runtime_error("port " + std::to_string(options.http_port) + " or " +
                                 std::to_string(options.rtmp_port) +
                                 " on 127.0.0.1 is already in use (choose others with --http-port/--rtmp-port)");

    pid_t nginx = spawn({"nginx", "-p", dir.string() + "/", "-c", (dir / "conf" / "nginx.conf").string(), "-e",
                         (dir / "logs" / "error.log").string()},
                        dir / "logs" / "nginx.out");
    record_pid(dir, "nginx", nginx);
    if (!wait_for([&] { return port_open(options.http_port) && port_open(options.rtmp_port); }, 10s)) {
        stack_down(dir);
        throw std::runtime_error("nginx did not start; see " + (dir / "logs" / "error.log").string() +
                                 " and nginx.out");
    }
    for (int t = 0; t < options.tenants; ++t) {
        std::string tenant = tenant_id(t);
        pid_t publisher =
            spawn({"ffmpeg",
                   "-hide_banner",
                   "-loglevel",
                   "error",
                   "-re",
                   "-f",
                   "lavfi",
                   "-i",
                   "testsrc=size=320x240:rate=25",
                   "-f",
                   "lavfi",
                   "-i",
                   "sine=frequency=" + std::to_string(440 + 110 * t) + ":sample_rate=44100",
                   "-c:v",
                   "libx264",
                   "-preset",
                   "veryfast",
                   "-tune",
                   "zerolatency",
                   "-g",
                   "50",
                   "-pix_fmt",
                   "yuv420p",
                   "-c:a",
                   "aac",
                   "-b:a",
                   "64k",
                   "-f",
                   "flv",
                   "rtmp://127.0.0.1:" + std::to_string(options.rtmp_port) + "/" + tenant + "/main?key=live-" + tenant},
                  dir / "logs" / ("ffmpeg-" + tenant + ".log"));
        record_pid(dir, "ffmpeg-" + tenant, publisher);
    }
    bool live = wait_for(
        [&] {
            for (int t = 0; t < options.tenants; ++t)
                if (!std::filesystem::exists(dir / "hls" / tenant_id(t) / "main.m3u8")) return false;
            return true;
        },
        30s);
    if (!live) {
        stack_down(dir);
        throw std::runtime_error("the publishers' HLS playlists did not appear; see " + (dir / "logs").string() +
                                 "/ffmpeg-*.log");
    }
    int fetched = viewer_round(options);
    pid_t viewers = ::fork();
    if (viewers == 0) {
        ::setsid();
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        while (true) {
            viewer_round(options);
            std::this_thread::sleep_for(1s);
        }
    }
    record_pid(dir, "viewers", viewers);
    std::cout << "refstack up in " << dir.string() << ": nginx pid " << nginx
              << " (http 127.0.0.1:" << options.http_port << ", rtmp 127.0.0.1:" << options.rtmp_port << "), "
              << options.tenants << " live tenants, " << k_viewers << " viewers (" << fetched
              << " playlists fetched so far)\n";
}

void stack_down(const std::filesystem::path& dir_in) {
    auto dir = std::filesystem::absolute(dir_in).lexically_normal();
    std::ifstream pids(dir / "run" / "pids");
    if (!pids) {
        std::cout << "refstack: nothing is up in " << dir.string() << "\n";
        return;
    }
    std::vector<std::pair<std::string, pid_t>> started;
    std::string name;
    pid_t pid;
    while (pids >> name >> pid) started.emplace_back(name, pid);
    // Viewers and publishers first, so that nginx writes their final log lines, then nginx.
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
        if (!process_alive(it->second)) continue;
        ::kill(it->second, it->first == "nginx" ? SIGQUIT : SIGTERM);
        if (!wait_for([&] { return !process_alive(it->second); }, 10s)) ::kill(it->second, SIGKILL);
        ::waitpid(it->second, nullptr, WNOHANG);
    }
    std::filesystem::remove(dir / "run" / "pids");
    std::cout << "refstack down in " << dir.string() << ": stopped " << started.size() << " processes\n";
}

}  // namespace gdprctl::refstack
