#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::util {

// Writes content to a temporary file beside path (created with mode), fsyncs it and renames
// it over path, so readers see either the old file or the whole new one. Throws Error::runtime.
void write_file_atomically(const std::filesystem::path& path, std::string_view content, unsigned mode = 0600);

// Creates dir (and parents) with mode when missing; tightens nothing that exists.
void ensure_private_directory(const std::filesystem::path& dir);

// Expands a glob (fnmatch syntax, '*' does not cross '/'), sorted. Relative patterns are taken
// from base. No match is an empty list, not an error.
std::vector<std::filesystem::path> expand_glob(const std::filesystem::path& base, const std::string& pattern);

std::string read_file(const std::filesystem::path& path);

// path relative to base when it lies below base, else as given.
std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path);

}  // namespace gdprctl::util
