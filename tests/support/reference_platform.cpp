#include "tests/support/reference_platform.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace gdprctl::testing {

ReferencePlatform::ReferencePlatform(const std::string& seed_options) {
    std::string err;
    if (seed_reference_platform(dir(), "--seed 5 --now " + std::to_string(k_now) + " " + seed_options, &err) != 0)
        throw std::runtime_error("refstack seed failed: " + err);
    truth = nlohmann::json::parse(read_text(dir() / "truth.json"));
}

int ReferencePlatform::gdprctl(const std::string& args, std::string* out, std::string* err) const {
    return run_command(std::string(GDPRCTL_BINARY) + " --config " + (dir() / "gdprctl.json").string() + " " + args, out,
                       err);
}

nlohmann::json ReferencePlatform::gdprctl_json(const std::string& args, int expected_exit) const {
    std::string out, err;
    EXPECT_EQ(gdprctl("--format json " + args, &out, &err), expected_exit) << args << "\n" << out << err;
    auto parsed = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << args << " printed no JSON: " << out;
    return parsed.is_discarded() ? nlohmann::json() : parsed;
}

int ReferencePlatform::import_reference_register() const {
    return gdprctl("register import " + std::string(GDPRCTL_SOURCE_DIR) + "/examples/refstack/register.json -q");
}

void ReferencePlatform::write_backup_manifest(const std::filesystem::path& sealed,
                                              const std::filesystem::path& tar) const {
    std::string inspected, sha;
    if (gdprctl("--format json container inspect " + sealed.string(), &inspected) != 0 ||
        run_command("sha256sum " + tar.string(), &sha) != 0)
        throw std::runtime_error("cannot describe " + sealed.string());
    auto header = nlohmann::json::parse(inspected);
    nlohmann::json manifest = {{"tenant", header["tenant"]},
                               {"key_id", header["key_ids"].empty() ? nlohmann::json("") : header["key_ids"][0]},
                               {"object_id", header["object_id"]},
                               {"plaintext_bytes", std::filesystem::file_size(tar)},
                               {"plaintext_sha256", sha.substr(0, 64)},
                               {"counts", nlohmann::json::object()}};
    write_text(sealed.string() + ".json", manifest.dump(2));
}

std::map<std::string, std::uint64_t> scanned_records(const std::filesystem::path& dir) {
    std::string text;
    std::map<std::string, std::uint64_t> records;
    if (run_command(
            std::string(GDPRCTL_BINARY) + " --config " + (dir / "gdprctl.json").string() + " --format json scan",
            &text) != 0)
        return records;
    auto report = nlohmann::json::parse(text);
    for (const auto& source : report["sources"])
        for (const auto& row : source["inventory"])
            records[row["dataset"].get<std::string>() + "/" + row["tenant"].get<std::string>()] +=
                row["records"].get<std::uint64_t>();
    return records;
}

}  // namespace gdprctl::testing
