#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/refstack/postgres_copy.hpp"

namespace gdprctl::refstack {

struct SeedOptions {
    std::filesystem::path dir;
    int tenants = 4;
    int viewers = 40;
    int days = 30;
    std::uint64_t log_size = 2 << 20;  // bytes of HTTP access log, spread over the days
    std::uint64_t seed = 1;
    std::int64_t now = 0;   // unix seconds; 0 = the current hour
    int http_port = 18080;  // written into the config, for the live stack
    int rtmp_port = 19350;
    // "sqlite" (platform.db) or "postgres" (the same tables in the database postgres names).
    std::string db = "sqlite";
    PostgresTarget postgres;
    // "files" (DIR/recordings) or "s3": the recordings as objects recordings/TENANT/NAME.flv in
    // s3_bucket (created when missing) at s3_endpoint, and a source of kind s3 for them.
    std::string objects = "files";
    std::string s3_endpoint;
    std::string s3_bucket = "refstack";
    std::filesystem::path s3_credentials_file;
};

// Writes a whole platform's stores under dir deterministically (same options, same bytes):
// platform.db (or its tables in PostgreSQL), logs/ (current, rotated, gzipped), events/*.jsonl, recordings/, captions/,
// hls/, gdprctl.json mapping every store, and truth.json with the exact counts a scan must find.
nlohmann::json seed_platform(const SeedOptions& options);

// The tenant ids seed_platform uses for n tenants, in order.
std::string tenant_id(int index);

}  // namespace gdprctl::refstack
