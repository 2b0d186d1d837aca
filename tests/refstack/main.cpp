// refstack: the reference streaming platform gdprctl is tested and demonstrated against.
//   refstack seed --dir D ...   writes a whole platform's stores deterministically, at any scale,
//                               its database in SQLite or (--db postgres) in PostgreSQL
//   refstack up --dir D         seeds (if needed) and starts nginx-rtmp, ffmpeg publishers, viewers
//   refstack down --dir D       stops everything up started, by pid
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.hpp"
#include "tests/refstack/seed.hpp"
#include "tests/refstack/stack.hpp"

namespace {

std::uint64_t parse_size(const std::string& text) {
    std::size_t used = 0;
    double value = std::stod(text, &used);
    std::string unit = text.substr(used);
    double scale = unit.empty() || unit == "B"    ? 1
                   : unit == "K" || unit == "KiB" ? 1024.0
                   : unit == "M" || unit == "MiB" ? 1024.0 * 1024
                   : unit == "G" || unit == "GiB" ? 1024.0 * 1024 * 1024
                                                  : -1;
    if (scale < 0) throw std::invalid_argument("unknown size unit \"" + unit + "\" (use K, M or G)");
    return static_cast<std::uint64_t>(value * scale);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"refstack: a real streaming platform in miniature (nginx-rtmp, ffmpeg, viewers) for gdprctl"};
    app.require_subcommand(1);

    gdprctl::refstack::SeedOptions seed;
    std::string log_size = "2M";
    std::string dir;
    auto* seed_command = app.add_subcommand("seed", "Write the platform's stores and truth.json, no servers");
    seed_command->add_option("--dir", dir, "Directory to write into")->required();
    seed_command->add_option("--tenants", seed.tenants, "Tenants")->capture_default_str();
    seed_command->add_option("--viewers", seed.viewers, "Known viewers")->capture_default_str();
    seed_command->add_option("--days", seed.days, "Days of history")->capture_default_str();
    seed_command->add_option("--log-size", log_size, "Bytes of HTTP access log (K, M, G suffixes)")
        ->capture_default_str();
    seed_command->add_option("--seed", seed.seed, "Random seed")->capture_default_str();
    seed_command->add_option("--now", seed.now, "Reference time, unix seconds (default: this hour)");
    seed_command->add_option("--db", seed.db, "Platform database: sqlite (DIR/platform.db) or postgres")
        ->check(CLI::IsMember({"sqlite", "postgres"}))
        ->capture_default_str();
    seed_command->add_option("--postgres", seed.postgres.connection,
                             "With --db postgres: libpq connection string or URI (its tables are replaced; "
                             "default: libpq's PGHOST, PGDATABASE, ... environment)");
    std::string password_file;
    seed_command->add_option("--postgres-password-file", password_file,
                             "With --db postgres: file holding the password, also named in gdprctl.json "
                             "(default: PGPASSWORD or PGPASSFILE)");

    seed_command->add_option("--objects", seed.objects, "Where recordings are kept: files (DIR/recordings) or s3")
        ->check(CLI::IsMember({"files", "s3"}))
        ->capture_default_str();
    seed_command->add_option("--s3-endpoint", seed.s3_endpoint, "With --objects s3: the server, http(s)://host:port");
    seed_command->add_option("--s3-bucket", seed.s3_bucket, "With --objects s3: the bucket (made if missing)")
        ->capture_default_str();
    seed_command->add_option(
        "--s3-credentials-file", seed.s3_credentials_file,
        "With --objects s3: access_key_id and secret_access_key lines, also named in gdprctl.json");

    gdprctl::refstack::StackOptions stack;
    auto* up_command = app.add_subcommand("up", "Seed when needed, then start nginx-rtmp, publishers and viewers");
    up_command->add_option("--dir", dir, "Platform directory")->required();
    up_command->add_option("--http-port", stack.http_port, "HTTP port on 127.0.0.1")->capture_default_str();
    up_command->add_option("--rtmp-port", stack.rtmp_port, "RTMP port on 127.0.0.1")->capture_default_str();
    up_command->add_option("--tenants", stack.tenants, "Tenants publishing live")->capture_default_str();
    auto* down_command = app.add_subcommand("down", "Stop everything 'up' started");
    down_command->add_option("--dir", dir, "Platform directory")->required();

    try {
        app.parse(argc, argv);
        if (seed_command->parsed()) {
            seed.dir = dir;
            seed.log_size = parse_size(log_size);
            if (!password_file.empty()) seed.postgres.password_file = std::filesystem::absolute(password_file);
            auto truth = gdprctl::refstack::seed_platform(seed);
            std::cout << "seeded " << dir << ": " << truth["tenants"].size() << " tenants, truth in " << dir
                      << "/truth.json, config in " << dir << "/gdprctl.json\n";
        } else if (up_command->parsed()) {
            stack.dir = dir;
            gdprctl::refstack::stack_up(stack);
        } else if (down_command->parsed()) {
            gdprctl::refstack::stack_down(dir);
        }
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    } catch (const std::exception& e) {
        std::cerr << "refstack: error: " << e.what() << "\n";
        return 3;
    }
    return 0;
}
