#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gdprctl::util {

// Appends value to out as compact JSON, byte for byte what value.dump() writes. Integers,
// booleans, null and strings of plain ASCII (nearly every cell of a database row) are written
// here directly, because nlohmann's serializer escapes and checks UTF-8 one character at a
// time and was the slowest part of exporting a large table. Everything else (escapes, other
// UTF-8, floating point, binary) goes through nlohmann, with its checks.
void append_json(std::string& out, const nlohmann::json& value);

}  // namespace gdprctl::util
