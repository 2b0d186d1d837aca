#pragma once

#include <filesystem>

namespace gdprctl::refstack {

struct StackOptions {
    std::filesystem::path dir;
    int http_port = 18080;
    int rtmp_port = 19350;
    int tenants = 2;  // the first N seeded tenants publish live
};

// Seeds dir when it holds no platform yet, then starts Debian's nginx with the RTMP module on
// 127.0.0.1 (every path under dir), one ffmpeg publisher per live tenant (test pattern + tone,
// recorded as FLV and served as HLS) and a viewer process that fetches playlists and segments
// from distinct loopback addresses (127.0.0.10, .11, ...) until stopped. Returns once every
// tenant's playlist is served and each viewer fetched it once. Pids go to dir/run/pids.
void stack_up(const StackOptions& options);

// Stops everything stack_up started, by pid (nginx gracefully), and waits for it to go.
void stack_down(const std::filesystem::path& dir);

}  // namespace gdprctl::refstack
