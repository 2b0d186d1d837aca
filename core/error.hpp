#pragma once

#include <stdexcept>
#include <string>

namespace gdprctl {

// Maps one-to-one to the exit codes users script against (ARCHITECTURE.md).
enum class ErrorKind { findings = 1, usage = 2, config = 2, runtime = 3, integrity = 4, interrupted = 130 };

// The one exception type of the project. Only cli/main.cpp catches it and prints
// "gdprctl: error: <what>" followed by the hint, then exits with exit_code().
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string message, std::string hint = {});

    // Something found that the user must act on (exit 1), e.g. a plan the stores no longer match.
    static Error findings(std::string message, std::string hint = {});
    static Error usage(std::string message, std::string hint = {});
    static Error config(std::string message, std::string hint = {});
    static Error runtime(std::string message, std::string hint = {});
    static Error integrity(std::string message, std::string hint = {});

    ErrorKind kind() const { return m_kind; }
    int exit_code() const { return static_cast<int>(m_kind); }
    const std::string& hint() const { return m_hint; }

private:
    ErrorKind m_kind;
    std::string m_hint;
};

}  // namespace gdprctl
